/*
 * tlsfit_arm.h - the handlers every Arm board's vector table names; arm.c
 * defines them (reset: copy .data, clear .bss, run main; anything else parks).
 */
#ifndef TLSFIT_ARM_H
#define TLSFIT_ARM_H

void Reset_Handler(void);
void Default_Handler(void);

#endif /* TLSFIT_ARM_H */
