/* tlsfit_stack.h - stack painting: paint at start, high-water mark at end;
 * and the harness's own depth where it calls into mbedTLS. */
#ifndef TLSFIT_STACK_H
#define TLSFIT_STACK_H

#include <stddef.h>
#include <stdint.h>

/* Paint the unused part of the port's stack region. */
void tlsfit_stack_paint(void);

/* Bytes of the stack region ever touched since painting; -1 if unknown. */
long tlsfit_stack_peak(void);

/* Record the stack pointer sp of a harness function that calls mbedTLS. */
void tlsfit_stack_note(uintptr_t sp);

/* Deepest noted depth (bytes from the top of the stack region): the harness
 * frames every mbedTLS call sits on. mbedTLS's own stack is the peak minus
 * this. -1 if unknown. Callbacks mbedTLS calls back into (BIO, allocator,
 * entropy) are below mbedTLS's frames and not in this figure. */
long tlsfit_stack_harness(void);

/* The current stack pointer, read inline in the calling function. */
#if defined(__GNUC__) && (defined(__arm__) || defined(__thumb__))
#define TLSFIT_STACK_POINTER(sp) __asm__ volatile("mov %0, sp" : "=r"(sp))
#elif defined(__GNUC__) && defined(__x86_64__)
#define TLSFIT_STACK_POINTER(sp) __asm__ volatile("mov %%rsp, %0" : "=r"(sp))
#elif defined(__GNUC__) && defined(__aarch64__)
#define TLSFIT_STACK_POINTER(sp) __asm__ volatile("mov %0, sp" : "=r"(sp))
#else
/* a local's address: within the caller's frame, close enough */
#define TLSFIT_STACK_POINTER(sp) \
    do { volatile uint8_t tlsfit_here_ = 0; (sp) = (uintptr_t)&tlsfit_here_; } while (0)
#endif

/* In a harness function that calls mbedTLS: note its stack depth. The stack
 * pointer is the same for every call the function body makes. */
#define TLSFIT_STACK_NOTE() \
    do { uintptr_t tlsfit_sp_; TLSFIT_STACK_POINTER(tlsfit_sp_); tlsfit_stack_note(tlsfit_sp_); } while (0)

#endif /* TLSFIT_STACK_H */
