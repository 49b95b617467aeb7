// LD_PRELOAD shim for benches/embed_compare.py: refuses the one system call that grants a
// process the AMX tile state (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)), so that
// ONNX Runtime's MLAS, which asks for it through libc's syscall(), falls back to its AVX-512
// VNNI kernels: what ORT does on a CPU without AMX (AMD Zen 4, Intel Ice Lake), measured here.
// Every other system call goes through unchanged.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
long syscall(long number, ...) {
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_arch_prctl && a1 == 0x1023) { errno = EPERM; return -1; }
    static long (*real)(long, ...);
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, a1, a2, a3, a4, a5, a6);
}
