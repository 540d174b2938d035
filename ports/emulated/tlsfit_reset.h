/*
 * tlsfit_reset.h - the reset routine and the park every board here shares,
 * Arm and RISC-V alike (reset.c). What runs before them is the
 * architecture's: the Cortex-M core loads SP and jumps through the vector
 * table (ports/cortex-m/vectors.c); RISC-V's _start sets gp, sp and mtvec
 * first (ports/riscv32-virt/startup.c).
 */
#ifndef TLSFIT_RESET_H
#define TLSFIT_RESET_H

/* Copy .data from its load address, clear .bss, run main() (which never
 * returns). Linker symbols: __data_load, __data_start/_end, __bss_start/_end. */
void tlsfit_reset(void);

/* Any unexpected exception or trap: park the CPU; QEMU's timeout ends the run. */
void tlsfit_park(void);

#endif /* TLSFIT_RESET_H */
