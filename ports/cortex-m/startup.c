/*
 * startup.c - reset handler and vector table shared by the Cortex-M boards
 * whose work clock is SysTick (lm3s6965evb, netduinoplus2). No peripheral
 * IRQ is used: only SysTick (exception 15) has a handler.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];
extern uint32_t __stack_top[];

int main(int argc, char **argv);
void Reset_Handler(void);
void Default_Handler(void);
void tlsfit_board_systick_irq(void);

/* see startup.c: copies .data, clears .bss, runs main (which never returns) */
void Reset_Handler(void)
{
    memcpy(__data_start, __data_load, (size_t)((uint8_t *)__data_end - (uint8_t *)__data_start));
    memset(__bss_start, 0, (size_t)((uint8_t *)__bss_end - (uint8_t *)__bss_start));
    (void)main(0, NULL);
    for (;;) {
    }
}

/* see startup.c: any unexpected exception parks the CPU; QEMU's timeout ends the run */
void Default_Handler(void)
{
    for (;;) {
    }
}

#define PRV_CORE_VECTORS 16u

typedef void (*prv_vector_t)(void);

/* Vector table, first in FLASH (the linker script): initial SP, then handlers. */
__attribute__((section(".isr_vector"), used))
const prv_vector_t s_vectors[PRV_CORE_VECTORS] = {
    [0] = (prv_vector_t)(uintptr_t)__stack_top,
    [1] = Reset_Handler,
    [2] = Default_Handler,   /* NMI */
    [3] = Default_Handler,   /* HardFault */
    [4] = Default_Handler,   /* MemManage */
    [5] = Default_Handler,   /* BusFault */
    [6] = Default_Handler,   /* UsageFault */
    [11] = Default_Handler,  /* SVCall */
    [12] = Default_Handler,  /* DebugMon */
    [14] = Default_Handler,  /* PendSV */
    [15] = tlsfit_board_systick_irq,
};
