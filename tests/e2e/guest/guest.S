/*
 * virtsnap e2e test guest: a 512-byte x86 boot sector (GNU as, .code16).
 *
 * Booted by SeaBIOS from a (virtio) disk, it programs COM1 directly for
 * 115200 8N1, prints "VIRTSNAP-GUEST BOOT" once, then forever increments a
 * 32-bit counter kept in RAM, prints "COUNT <n>" (n starts at 1) and sleeps
 * ~100 ms.  Because the counter lives in guest memory, a memory snapshot /
 * restore carries it, which lets tests check that state survived.
 *
 * Built by tests/e2e/build-guest.sh (as --32; ld -Ttext 0x7c00 --oformat binary).
 */
	.code16
	.text
	.globl	_start

	.set	COM1, 0x3f8
	.set	BDA_TICKS, 0x46c	/* BIOS tick counter, ~18.2 Hz */

_start:
	cli
	ljmp	$0, $1f			/* normalise CS:IP to 0000:7cxx */
1:	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	cld
	sti

	/* COM1: no interrupts, DLAB, divisor 1 (115200), 8N1, FIFO, DTR|RTS */
	movw	$COM1+1, %dx
	xorb	%al, %al
	outb	%al, %dx		/* IER = 0 */
	movw	$COM1+3, %dx
	movb	$0x80, %al
	outb	%al, %dx		/* LCR: DLAB = 1 */
	movw	$COM1+0, %dx
	movb	$1, %al
	outb	%al, %dx		/* DLL = 1 */
	movw	$COM1+1, %dx
	xorb	%al, %al
	outb	%al, %dx		/* DLM = 0 */
	movw	$COM1+3, %dx
	movb	$0x03, %al
	outb	%al, %dx		/* LCR: 8N1, DLAB = 0 */
	movw	$COM1+2, %dx
	movb	$0xc7, %al
	outb	%al, %dx		/* FCR: enable + clear FIFOs */
	movw	$COM1+4, %dx
	movb	$0x03, %al
	outb	%al, %dx		/* MCR: DTR | RTS */

	movw	$banner, %si
	call	puts

loop:
	incl	counter
	movw	$count_msg, %si
	call	puts
	movl	counter, %eax
	call	putdec
	movw	$crlf, %si
	call	puts
	call	delay
	jmp	loop

/* ~100 ms: INT 15h AH=86h (CX:DX = 100000 us); on error, BDA tick polling */
delay:
	movb	$0x86, %ah
	movw	$0x0001, %cx
	movw	$0x86a0, %dx
	stc
	int	$0x15
	sti
	jnc	3f
	movw	BDA_TICKS, %bx		/* fallback: wait 2 ticks (55-110 ms) */
	addw	$2, %bx
1:	hlt
	cmpw	BDA_TICKS, %bx
	jne	1b
3:	ret

/* print unsigned %eax in decimal */
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

/* print NUL-terminated string at %ds:%si */
puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

/* send %al to COM1, waiting for THR empty */
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

banner:		.asciz	"VIRTSNAP-GUEST BOOT\r\n"
count_msg:	.asciz	"COUNT "
crlf:		.asciz	"\r\n"
	.balign	4
counter:	.long	0

	.org	510
	.word	0xaa55
