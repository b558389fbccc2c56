// Memory-order helpers for the control page's seqlock (a head of two 64-bit words published
// by one writer, read by any process without a lock).
#ifndef CDISKCACHESEQLOCK_H
#define CDISKCACHESEQLOCK_H

#include <stdint.h>

static inline uint64_t dcs_load_relaxed(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void dcs_store_relaxed(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void dcs_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void dcs_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

#endif
