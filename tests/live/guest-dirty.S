/*
 * guest-dirty.S: the live-snapshot test guest (a copy of tests/e2e/guest
 * extended; GNU as, .code16). Sector 0 loads the rest of the image
 * (INT 13h extended read) and jumps to it. It then:
 *  - programs COM1 for 115200 8N1 and prints "VIRTSNAP-DIRTY BOOT";
 *  - finds the E820 RAM region that starts at 1 MiB (below 4 GiB) and prints
 *    "READY <MiB>" (its size). The guest does not fill RAM itself: on this
 *    kind of host (KVM without "unrestricted guest", e.g. nested/PVM) code
 *    outside 64-bit paging is emulated instruction by instruction, far too
 *    slowly for gigabytes. Tests fill RAM with incompressible data from the
 *    host with QEMU's "-device loader,file=RANDOM,addr=0x100000";
 *  - loops forever, about 10 times a second: increments a 32-bit counter in
 *    RAM, prints "COUNT <n>", rewrites one dword in each of the next 256
 *    pages (DIRTY_PAGES; 1 MiB per round, cycling through RAM; in flat 32-bit
 *    protected mode) so that pages change while a snapshot is written, and
 *    writes the counter to the last sector of its disk ("VSDC" + the counter,
 *    little endian, INT 13h extended write), so that a test can compare the
 *    counter on disk with the one in RAM after a revert.
 * Built by tests/live/build-guest-dirty.sh.
 */
	.code16
	.text
	.globl	_start

	.set	COM1, 0x3f8
	.set	STAGE2_SECTORS, 3
	.set	E820BUF, 0x600
	.set	DISKBUF, 0x1000
	.set	DISK_LBA, 2047		/* last sector of the 1 MiB image */
	.ifndef	DIRTY_PAGES
	.set	DIRTY_PAGES, 256	/* as --defsym DIRTY_PAGES=N to change */
	.endif

_start:
	cli
	ljmp	$0, $1f
1:	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	cld
	sti
	movb	%dl, bootdrv
	movw	$rdap, %si
	movb	$0x42, %ah
	int	$0x13
	jc	halt
	jmp	stage2
halt:	hlt
	jmp	halt

	.balign	4
rdap:	.byte	16, 0
	.word	STAGE2_SECTORS
	.word	0x7e00, 0
	.quad	1
bootdrv: .byte	0x80

	.org	510
	.word	0xaa55

/* ---- sector 1 onwards, loaded at 0x7e00 ---- */
stage2:
	movw	$COM1+1, %dx
	xorb	%al, %al
	outb	%al, %dx		/* IER = 0 */
	movw	$COM1+3, %dx
	movb	$0x80, %al
	outb	%al, %dx		/* DLAB */
	movw	$COM1+0, %dx
	movb	$1, %al
	outb	%al, %dx		/* DLL = 1: 115200 */
	movw	$COM1+1, %dx
	xorb	%al, %al
	outb	%al, %dx
	movw	$COM1+3, %dx
	movb	$0x03, %al
	outb	%al, %dx		/* 8N1 */
	movw	$COM1+2, %dx
	movb	$0xc7, %al
	outb	%al, %dx		/* FIFOs */
	movw	$COM1+4, %dx
	movb	$0x03, %al
	outb	%al, %dx		/* DTR | RTS */

	movw	$banner, %si
	call	puts

	inb	$0x92, %al		/* fast A20 */
	orb	$2, %al
	andb	$0xfe, %al
	outb	%al, $0x92

	/* E820: memtop = end of the usable region that starts at 1 MiB */
	xorl	%ebx, %ebx
e820:	movl	$0xe820, %eax
	movl	$24, %ecx
	movl	$0x534d4150, %edx
	movw	$E820BUF, %di
	int	$0x15
	jc	e820_done
	cmpl	$0x534d4150, %eax
	jne	e820_done
	cmpl	$1, E820BUF+16
	jne	e820_next
	cmpl	$0x100000, E820BUF
	jne	e820_next
	cmpl	$0, E820BUF+4
	jne	e820_next
	movl	E820BUF+8, %eax
	cmpl	$0, E820BUF+12
	je	1f
	movl	$0xffe00000, %eax
1:	addl	$0x100000, %eax
	jnc	2f
	movl	$0xfffff000, %eax
2:	andl	$0xfffff000, %eax
	movl	%eax, memtop
e820_next:
	testl	%ebx, %ebx
	jnz	e820
e820_done:

	movw	$ready_msg, %si
	call	puts
	movl	memtop, %eax
	subl	$0x100000, %eax
	shrl	$20, %eax
	call	putdec
	movw	$crlf, %si
	call	puts
	movl	$0x100000, cursor

loop:
	incl	counter
	movw	$count_msg, %si
	call	puts
	movl	counter, %eax
	call	putdec
	movw	$crlf, %si
	call	puts
	call	dirty
	call	diskwrite
	call	delay
	jmp	loop

/* Runs the 32-bit routine at %ebp in flat protected mode (interrupts off),
 * then returns to real mode with proper 64 KiB segments. Without KVM's
 * "unrestricted guest" (nested hosts), real mode is emulated instruction by
 * instruction and "unreal" mode would be far too slow to fill gigabytes. */
pm_run:
	cli
	lgdt	gdtr
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$0x08, $pm_entry
	.code32
pm_entry:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movzwl	%sp, %esp
	call	*%ebp
	ljmp	$0x18, $rm_entry16
	.code16
rm_entry16:
	movw	$0x20, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movl	%cr0, %eax
	andl	$0xfffffffe, %eax
	movl	%eax, %cr0
	ljmp	$0, $rm_entry
rm_entry:
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	sti
	ret

dirty:
	movl	$dirty32, %ebp
	jmp	pm_run

	.code32
/* xorshift32 on %eax (clobbers %edx) */
xorshift:
	movl	%eax, %edx
	shll	$13, %edx
	xorl	%edx, %eax
	movl	%eax, %edx
	shrl	$17, %edx
	xorl	%edx, %eax
	movl	%eax, %edx
	shll	$5, %edx
	xorl	%edx, %eax
	ret

/* one dword in each of the next DIRTY_PAGES pages, cycling through RAM */
dirty32:
	movl	cursor, %edi
	movl	seed, %eax
	movl	$DIRTY_PAGES, %ecx
1:	call	xorshift
	movl	%eax, (%edi)
	addl	$4096, %edi
	cmpl	memtop, %edi
	jb	2f
	movl	$0x100000, %edi
2:	loop	1b
	movl	%edi, cursor
	movl	%eax, seed
	ret
	.code16

/* the counter to the disk's last sector */
diskwrite:
	movl	$0x43445356, DISKBUF	/* "VSDC" */
	movl	counter, %eax
	movl	%eax, DISKBUF+4
	movw	$wdap, %si
	movw	$0x4300, %ax
	movb	bootdrv, %dl
	int	$0x13
	ret

/* ~100 ms: INT 15h AH=86h (CX:DX = 100000 us) */
delay:
	movb	$0x86, %ah
	movw	$0x0001, %cx
	movw	$0x86a0, %dx
	int	$0x15
	sti
	ret

putdec:
	movl	$10, %ecx
	xorw	%bx, %bx
1:	xorl	%edx, %edx
	divl	%ecx
	pushw	%dx
	incw	%bx
	testl	%eax, %eax
	jnz	1b
2:	popw	%ax
	addb	$'0', %al
	call	putc
	decw	%bx
	jnz	2b
	ret

puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

putc:
	pushw	%dx
	pushw	%ax
	movw	$COM1+5, %dx
1:	inb	%dx, %al
	testb	$0x20, %al
	jz	1b
	popw	%ax
	movw	$COM1, %dx
	outb	%al, %dx
	popw	%dx
	ret

	.balign	8
gdt:	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: flat 32-bit data */
	.quad	0x00009a000000ffff	/* 0x18: 16-bit code, 64 KiB */
	.quad	0x000092000000ffff	/* 0x20: 16-bit data, 64 KiB */
gdt_end:
gdtr:	.word	gdt_end - gdt - 1
	.long	gdt
	.balign	4
wdap:	.byte	16, 0
	.word	1
	.word	DISKBUF, 0
	.quad	DISK_LBA
memtop:	.long	0x01000000
cursor:	.long	0x100000
seed:	.long	0x2545f491
counter: .long	0
banner:	.asciz	"VIRTSNAP-DIRTY BOOT\r\n"
ready_msg: .asciz "READY "
count_msg: .asciz "COUNT "
crlf:	.asciz	"\r\n"

	.org	512 * (1 + STAGE2_SECTORS)
