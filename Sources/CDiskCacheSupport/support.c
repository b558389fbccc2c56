#define _GNU_SOURCE
#include "CDiskCacheSupport.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/mman.h>
#include <unistd.h>

static uint32_t crc_table[8][256];
static int have_sse42 = -1;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = crc_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc_table[0][c & 0xFF] ^ (c >> 8);
            crc_table[t][i] = c;
        }
    }
#if defined(__x86_64__)
    /* cpuid directly: __builtin_cpu_supports needs a runtime hook that is missing when this
     * code is linked into a Swift shared library (it then silently reports "no SSE4.2"). */
    unsigned int eax, ebx, ecx, edx;
    have_sse42 = (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_SSE4_2)) ? 1 : 0;
#else
    have_sse42 = 0;
#endif
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n) {
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^ crc_table[5][(w >> 16) & 0xFF] ^
              crc_table[4][(w >> 24) & 0xFF] ^ crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
              crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
        p += 8; n -= 8;
    }
    while (n--) crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8; n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

#if defined(__x86_64__)
/* Three independent lanes keep the crc32 unit busy (its latency is 3 cycles, its throughput
 * one per cycle). The lanes are joined with "shift by LANE zero bytes", a linear map on the
 * 32-bit register, tabulated once from its action on the 32 basis vectors. */
#define LANE 8192
static uint32_t shift_table[4][256];

__attribute__((target("sse4.2")))
static uint32_t zeros_hw(uint32_t crc, size_t n) {
    uint64_t c = crc;
    for (size_t i = 0; i < n / 8; i++) c = __builtin_ia32_crc32di(c, 0);
    return (uint32_t)c;
}

static void shift_init(void) {
    uint32_t basis[32];
    for (int b = 0; b < 32; b++) basis[b] = zeros_hw(1u << b, LANE);
    for (int t = 0; t < 4; t++) {
        for (int v = 0; v < 256; v++) {
            uint32_t r = 0;
            for (int bit = 0; bit < 8; bit++)
                if (v & (1 << bit)) r ^= basis[t * 8 + bit];
            shift_table[t][v] = r;
        }
    }
}

static inline uint32_t shift_lane(uint32_t c) {
    return shift_table[0][c & 0xFF] ^ shift_table[1][(c >> 8) & 0xFF] ^ shift_table[2][(c >> 16) & 0xFF] ^ shift_table[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc_hw3(uint32_t crc, const uint8_t *p, size_t n) {
    while (n >= 3 * LANE) {
        uint64_t a = crc, b = 0, c = 0;
        const uint8_t *pb = p + LANE, *pc = p + 2 * LANE;
        for (size_t i = 0; i < LANE; i += 8) {
            uint64_t wa, wb, wc;
            memcpy(&wa, p + i, 8);
            memcpy(&wb, pb + i, 8);
            memcpy(&wc, pc + i, 8);
            a = __builtin_ia32_crc32di(a, wa);
            b = __builtin_ia32_crc32di(b, wb);
            c = __builtin_ia32_crc32di(c, wc);
        }
        crc = shift_lane(shift_lane((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
        p += 3 * LANE;
        n -= 3 * LANE;
    }
    return crc_hw(crc, p, n);
}
#endif

int dcs_crc32c_is_hardware(void) {
    pthread_once(&crc_once, crc_init);
    return have_sse42 == 1;
}

uint32_t dcs_crc32c(uint32_t crc, const void *data, size_t length) {
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
#if defined(__x86_64__)
    if (have_sse42) {
        if (length >= 3 * LANE) {
            static pthread_once_t shift_once = PTHREAD_ONCE_INIT;
            pthread_once(&shift_once, shift_init);
            return ~crc_hw3(crc, (const uint8_t *)data, length);
        }
        return ~crc_hw(crc, (const uint8_t *)data, length);
    }
#endif
    return ~crc_sw(crc, (const uint8_t *)data, length);
}

static uint64_t fork_generation = 0;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* Descriptors that hold a flock (the control files of open caches). A flock belongs to the
 * open file description, which a child inherits: a child that never touches its cache would
 * keep a dead parent's lock for as long as it lives. At fork the child gets a description of
 * its own for each, under the same descriptor number (so the engine's copy of the number
 * stays valid), before any of its code runs. Guarded by lock_fds_mutex, which is held across
 * fork so the child sees a consistent table. */
struct lock_fd { int fd; char *path; };
static pthread_mutex_t lock_fds_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct lock_fd *lock_fds = NULL;
static size_t lock_fd_count = 0, lock_fd_capacity = 0;

static void on_fork_prepare(void) { pthread_mutex_lock(&lock_fds_mutex); }
static void on_fork_parent(void) { pthread_mutex_unlock(&lock_fds_mutex); }

static void on_fork_child(void) {
    __atomic_fetch_add(&fork_generation, 1, __ATOMIC_RELAXED);
    /* Only async-signal-safe calls here (the parent may have had other threads). */
    for (size_t i = 0; i < lock_fd_count; i++) {
        int fresh = open(lock_fds[i].path, O_RDWR | O_CLOEXEC);
        /* Cannot reopen (file gone, no descriptors left): drop the parent's description all
         * the same; the engine reopens on first use. */
        if (fresh < 0) fresh = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fresh >= 0) {
            dup3(fresh, lock_fds[i].fd, O_CLOEXEC);
            close(fresh);
        }
    }
    pthread_mutex_unlock(&lock_fds_mutex);
}

static void fork_init(void) { pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child); }

int dcs_lock_fd_register(int fd, const char *path) {
    pthread_once(&fork_once, fork_init);
    char *copy = strdup(path);
    if (copy == NULL) return -1;
    pthread_mutex_lock(&lock_fds_mutex);
    if (lock_fd_count == lock_fd_capacity) {
        size_t capacity = lock_fd_capacity ? lock_fd_capacity * 2 : 8;
        struct lock_fd *grown = realloc(lock_fds, capacity * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&lock_fds_mutex);
            free(copy);
            return -1;
        }
        lock_fds = grown;
        lock_fd_capacity = capacity;
    }
    lock_fds[lock_fd_count++] = (struct lock_fd){fd, copy};
    pthread_mutex_unlock(&lock_fds_mutex);
    return 0;
}

void dcs_lock_fd_unregister(int fd) {
    pthread_mutex_lock(&lock_fds_mutex);
    for (size_t i = 0; i < lock_fd_count; i++) {
        if (lock_fds[i].fd == fd) {
            free(lock_fds[i].path);
            lock_fds[i] = lock_fds[--lock_fd_count];
            break;
        }
    }
    pthread_mutex_unlock(&lock_fds_mutex);
}

uint64_t dcs_fork_generation(void) {
    pthread_once(&fork_once, fork_init);
    return __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
}

static _Thread_local int no_wait = 0;
static _Thread_local uint64_t unrefused_waits = 0;

int dcs_no_wait(void) { return no_wait; }
int dcs_set_no_wait(int on) { int was = no_wait; no_wait = on; return was; }
void dcs_note_unrefused_wait(void) { unrefused_waits++; }
uint64_t dcs_unrefused_waits(void) { return unrefused_waits; }

#define READ_HELD_MAX 16
static _Thread_local const void *read_held[READ_HELD_MAX];
static _Thread_local int read_held_count = 0;

int dcs_read_held(const void *lock) {
    for (int i = 0; i < read_held_count; i++) if (read_held[i] == lock) return 1;
    return 0;
}

int dcs_read_push(const void *lock) {
    if (read_held_count == READ_HELD_MAX) return -1;
    read_held[read_held_count++] = lock;
    return 0;
}

void dcs_read_pop(const void *lock) {
    for (int i = read_held_count - 1; i >= 0; i--) {
        if (read_held[i] == lock) {
            for (int j = i; j < read_held_count - 1; j++) read_held[j] = read_held[j + 1];
            read_held_count--;
            return;
        }
    }
}

int dcs_flock(int fd, int operation) { return flock(fd, operation); }

int dcs_stat(const char *path, int64_t *size, int *is_directory) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    *size = (int64_t)st.st_size;
    *is_directory = S_ISDIR(st.st_mode) ? 1 : 0;
    return 0;
}

int64_t dcs_statfs_type(const char *path) {
    struct statfs st;
    if (statfs(path, &st) != 0) return -1;
    return (int64_t)st.f_type;
}

void *dcs_mremap(void *address, size_t old_size, size_t new_size) {
    void *p = mremap(address, old_size, new_size, MREMAP_MAYMOVE);
    return p == MAP_FAILED ? NULL : p;
}
