/* Times three syscall shapes, best of 7 rounds each (the least disturbed
 * run on a noisy machine): a syscall that touches no file, a stat of a
 * path, an open and close. Prints "getppid NS stat NS open+close NS". */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    const char *path = "/etc/hostname";
    double best[3] = {1e12, 1e12, 1e12};
    struct stat st;
    for (int round = 0; round < 7; round++) {
        double t = now();
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
        t = (now() - t) / n;
        if (t < best[0]) best[0] = t;
        t = now();
        for (long i = 0; i < n; i++) stat(path, &st);
        t = (now() - t) / n;
        if (t < best[1]) best[1] = t;
        t = now();
        for (long i = 0; i < n; i++) close(open(path, O_RDONLY));
        t = (now() - t) / n;
        if (t < best[2]) best[2] = t;
    }
    printf("getppid %.0f stat %.0f open+close %.0f\n", best[0], best[1], best[2]);
    return 0;
}
