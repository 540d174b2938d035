/*
 * startup.c - reset entry and trap vector of the riscv32-virt board (RV32IMAC,
 * M-mode, no firmware: QEMU's -bios none jumps to the ELF's entry). Board
 * facts only: what runs before the reset routine every board shares
 * (ports/emulated/reset.c: .data, .bss, main) and where a trap goes (its
 * park: no interrupt is enabled, QEMU's timeout ends the run).
 */
#include "tlsfit_reset.h"

/* _start: global pointer (without relaxation, or `la gp` would become
 * `mv gp, gp`), stack, trap vector; then C. First in FLASH (linker.ld). */
__asm__(
    ".section .text.tlsfit_start, \"ax\", @progbits\n"
    ".globl _start\n"
    "_start:\n"
    ".option push\n"
    ".option norelax\n"
    "    la gp, __global_pointer$\n"
    ".option pop\n"
    "    la sp, __stack_top\n"
    "    la t0, tlsfit_board_trap_entry\n"
    ".option push\n"
    ".option arch, +zicsr\n"
    "    csrw mtvec, t0\n"
    ".option pop\n"
    "    j tlsfit_reset\n"
    /* direct-mode trap vector: 4-byte aligned */
    ".balign 4\n"
    "tlsfit_board_trap_entry:\n"
    "    j tlsfit_park\n"
    ".text\n");
