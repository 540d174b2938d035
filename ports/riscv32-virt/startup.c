/*
 * startup.c - reset entry and trap vector of the riscv32-virt board (RV32IMAC,
 * M-mode, no firmware: QEMU's -bios none jumps to the ELF's entry). Board
 * facts only: what runs before main() and what a trap does.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];

int main(int argc, char **argv);
void tlsfit_board_reset(void);
void tlsfit_board_trap(void);

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
    "    j tlsfit_board_reset\n"
    /* direct-mode trap vector: 4-byte aligned */
    ".balign 4\n"
    "tlsfit_board_trap_entry:\n"
    "    j tlsfit_board_trap\n"
    ".text\n");

/* see startup.c: copies .data, clears .bss, runs main (which never returns) */
void tlsfit_board_reset(void)
{
    memcpy(__data_start, __data_load, (size_t)((uint8_t *)__data_end - (uint8_t *)__data_start));
    memset(__bss_start, 0, (size_t)((uint8_t *)__bss_end - (uint8_t *)__bss_start));
    (void)main(0, NULL);
    for (;;) {
    }
}

/* see startup.c: any trap (no interrupt is enabled) parks the CPU; QEMU's
 * timeout ends the run, as on the Cortex-M boards */
void tlsfit_board_trap(void)
{
    for (;;) {
    }
}
