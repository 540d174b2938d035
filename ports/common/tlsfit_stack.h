/* tlsfit_stack.h - stack painting: paint at start, high-water mark at end. */
#ifndef TLSFIT_STACK_H
#define TLSFIT_STACK_H

#include <stddef.h>

/* Paint the unused part of the port's stack region. */
void tlsfit_stack_paint(void);

/* Bytes of the stack region ever touched since painting; -1 if unknown. */
long tlsfit_stack_peak(void);

#endif /* TLSFIT_STACK_H */
