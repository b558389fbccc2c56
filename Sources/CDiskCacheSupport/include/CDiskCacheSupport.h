// Small C helpers the Swift engine cannot express cheaply: hardware CRC32C, atomics on memory
// shared between processes through mmap, and a fork generation counter.
#ifndef CDISKCACHESUPPORT_H
#define CDISKCACHESUPPORT_H

#include <stdint.h>
#include <stddef.h>
#include "CDiskCacheSeqlock.h"

#ifdef __cplusplus
extern "C" {
#endif

/// CRC32C (Castagnoli) of `length` bytes, continuing from `crc` (start with 0).
/// Uses SSE4.2 when the processor has it, a table otherwise.
uint32_t dcs_crc32c(uint32_t crc, const void *data, size_t length);

/// Whether the hardware CRC32C instruction is in use (for tests and benchmarks).
int dcs_crc32c_is_hardware(void);

/// Atomic operations on 64-bit words that live in a MAP_SHARED page: Swift's own atomics
/// cannot be placed at an arbitrary address in such a mapping.
static inline uint64_t dcs_load_acquire(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void dcs_store_release(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint64_t dcs_fetch_add(uint64_t *p, uint64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL); }
static inline uint64_t dcs_exchange(uint64_t *p, uint64_t v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL); }

/// Incremented in every child right after fork(); per-process state (lock descriptors, the
/// in-process mutex) compares it to notice that it was inherited and must be reopened.
uint64_t dcs_fork_generation(void);

/// Registers a descriptor holding a flock (a cache's control file at `path`): in a forked
/// child it is replaced, at the fork, by a fresh open of `path` under the same number, so the
/// child does not share the parent's lock. 0, or -1 if out of memory.
int dcs_lock_fd_register(int fd, const char *path);
/// Forgets a registered descriptor; call before closing it.
void dcs_lock_fd_unregister(int fd);

/// The calling thread's "attempt without waiting" state (DiskCache.withoutWaiting): nonzero
/// while a call must throw `wouldBlock` instead of waiting. A C thread-local because Swift has
/// none that is cheap enough for every operation's entry.
int dcs_no_wait(void);
/// Sets the calling thread's state; returns the previous one.
int dcs_set_no_wait(int on);
/// Counts, per thread, waits entered while the state was on: each is a wait the engine failed
/// to refuse up front (a defect; tests read it).
void dcs_note_unrefused_wait(void);
uint64_t dcs_unrefused_waits(void);

/// The shared (read) holds of cache state locks the calling thread has, so that a nested read
/// of the same cache does not take the lock again (a waiting writer would block it: deadlock)
/// and a write inside a read is refused instead of deadlocking. At most 16 at once.
int dcs_read_held(const void *lock);
/// Notes a shared hold; -1 if 16 are already noted.
int dcs_read_push(const void *lock);
/// Forgets the innermost shared hold of `lock`.
void dcs_read_pop(const void *lock);

/// Thin wrappers for libc functions whose names Swift confuses with same-named structs.
int dcs_flock(int fd, int operation);
/// stat(2): 0 on success with size and whether it is a directory; -1 with errno set.
int dcs_stat(const char *path, int64_t *size, int *is_directory);
/// mremap(2) with MREMAP_MAYMOVE (variadic in C, so Swift cannot call it): the mapping's
/// pages move to a larger range without being copied. NULL with errno set on failure.
void *dcs_mremap(void *address, size_t old_size, size_t new_size);
/// statfs(2)'s f_type; -1 with errno set on failure.
int64_t dcs_statfs_type(const char *path);

#ifdef __cplusplus
}
#endif
#endif
