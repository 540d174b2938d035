/*
 * tlsfit_board_hw.h - STM32F405 for the Cortex-M layer (see
 * ports/cortex-m/tlsfit_cortexm.h): USART1 console (0x40011000) and USART2
 * transport (0x40004400; QEMU's netduinoplus2 connects its first -serial to
 * USART1, the second to USART2); SysTick tick timer on the external
 * reference, SYSCLK / 8 = 21 MHz in QEMU, so -icount shift=10 gives
 * 21.504 = 2688/125 ticks per instruction.
 */
#ifndef TLSFIT_BOARD_HW_H
#define TLSFIT_BOARD_HW_H

#include <stdint.h>

#define TLSFIT_SYSTICK_CLKSOURCE 0
#define TLSFIT_HW_TICKS_PER_INSN_NUM 2688u
#define TLSFIT_HW_TICKS_PER_INSN_DEN 125u
#include "tlsfit_systick.h"

#define TLSFIT_HW_UART_CONSOLE 0
#define TLSFIT_HW_UART_TRANSPORT 1

#define PRV_REG(addr) (*(volatile uint32_t *)(addr))
#define PRV_USART_BASE(unit) ((unit) == 0 ? 0x40011000u : 0x40004400u)
#define PRV_USART_SR(unit) PRV_REG(PRV_USART_BASE(unit) + 0x00u)
#define PRV_USART_DR(unit) PRV_REG(PRV_USART_BASE(unit) + 0x04u)
#define PRV_USART_BRR(unit) PRV_REG(PRV_USART_BASE(unit) + 0x08u)
#define PRV_USART_CR1(unit) PRV_REG(PRV_USART_BASE(unit) + 0x0Cu)
#define PRV_USART_SR_RXNE 0x20u
#define PRV_USART_SR_TXE 0x80u
#define PRV_USART_CR1_ENABLE 0x200Cu   /* UE | TE | RE: the model drops RX unless UE and RE */
/* RCC clock enables of USART1 (APB2) and USART2 (APB1) on the real part */
#define PRV_RCC_APB1ENR PRV_REG(0x40023840u)
#define PRV_RCC_APB2ENR PRV_REG(0x40023844u)
#define PRV_RCC_APB1ENR_USART2 (1u << 17)
#define PRV_RCC_APB2ENR_USART1 (1u << 4)

/* see tlsfit_cortexm.h */
static inline void prv_hw_init(void)
{
    int unit;
    PRV_RCC_APB1ENR |= PRV_RCC_APB1ENR_USART2;
    PRV_RCC_APB2ENR |= PRV_RCC_APB2ENR_USART1;
    for (unit = 0; unit < 2; unit++) {
        PRV_USART_BRR(unit) = 0x16Du;  /* 115200 Bd at 42 MHz; the emulator ignores it */
        PRV_USART_CR1(unit) = PRV_USART_CR1_ENABLE;
        (void)PRV_USART_DR(unit);      /* a read makes QEMU poll the backend */
    }
    prv_systick_init();
}

/* see tlsfit_cortexm.h */
static inline int prv_hw_tx_ready(int unit)
{
    return (PRV_USART_SR(unit) & PRV_USART_SR_TXE) != 0u;
}

/* see tlsfit_cortexm.h */
static inline void prv_hw_tx(int unit, uint8_t byte)
{
    PRV_USART_DR(unit) = byte;
}

/* see tlsfit_cortexm.h */
static inline int prv_hw_rx_ready(int unit)
{
    return (PRV_USART_SR(unit) & PRV_USART_SR_RXNE) != 0u;
}

/* see tlsfit_cortexm.h */
static inline uint8_t prv_hw_rx(int unit)
{
    return (uint8_t)PRV_USART_DR(unit);
}

#endif /* TLSFIT_BOARD_HW_H */
