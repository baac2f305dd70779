/*
 * virtsnap e2e test guest: a 512-byte x86 boot sector (GNU as, .code16).
 *
 * Booted by SeaBIOS from a (virtio) disk, it programs COM1 directly for
 * 115200 8N1, prints "VIRTSNAP-GUEST BOOT" once, then forever increments a
 * 32-bit counter kept in RAM, prints "COUNT <n>" (n starts at 1) and sleeps
 * ~100 ms.  Because the counter lives in guest memory, a memory snapshot /
 * restore carries it, which lets tests check that state survived.
 *
 * It also answers the ACPI power button (libvirt's shutdown: QEMU's
 * system_powerdown) on QEMU's default pc machine: it enables the button in
 * the PIIX4 power management's PM1_EN (its I/O base as SeaBIOS set it in
 * PCI 00:01.3), polls PM1_STS in its loop, and once pressed prints
 * "VIRTSNAP-GUEST OFF" and powers off (PM1_CNT: SLP_EN, sleep type 0, S5).
 * On another machine it only counts.
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

	/* ACPI: PCI 00:01.3 a PIIX4 (8086:7113)? its PMBA (register 0x40) */
	movl	$0x80000b00, %eax
	call	pciread
	cmpl	$0x71138086, %eax
	jne	loop
	movl	$0x80000b40, %eax
	call	pciread
	andw	$0xffc0, %ax
	jz	loop			/* no I/O base set: no ACPI */
	movw	%ax, pmbase
	movw	%ax, %dx
	addw	$2, %dx
	movw	$0x0100, %ax
	outw	%ax, %dx		/* PM1_EN: PWRBTN_EN */

loop:
	movw	pmbase, %dx
	testw	%dx, %dx
	jz	1f
	inw	%dx, %ax		/* PM1_STS */
	testw	$0x0100, %ax		/* PWRBTN_STS */
	jz	1f
	movw	$off_msg, %si
	call	puts
	addw	$4, %dx
	movw	$0x2000, %ax
	outw	%ax, %dx		/* PM1_CNT: SLP_EN, SLP_TYP 0 (S5) */
	cli
	hlt
1:	incl	counter
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

/* %eax = PCI configuration dword at address %eax (mechanism #1) */
pciread:
	movw	$0xcf8, %dx
	outl	%eax, %dx
	movw	$0xcfc, %dx
	inl	%dx, %eax
	ret

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
off_msg:	.asciz	"VIRTSNAP-GUEST OFF\r\n"
	.balign	4
counter:	.long	0
pmbase:		.word	0

	.org	510
	.word	0xaa55
