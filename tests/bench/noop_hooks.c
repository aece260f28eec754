/* Attaches a two-instruction eBPF program (return 0) to the raw syscall
 * tracepoints named on the command line and waits until killed: the cost
 * every syscall pays for the hooks themselves, whatever a probe does. */
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long bpf(int cmd, union bpf_attr *attr) {
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int main(int argc, char **argv) {
    struct bpf_insn prog[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    for (int i = 1; i < argc; i++) {
        union bpf_attr load;
        memset(&load, 0, sizeof(load));
        load.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
        load.insns = (unsigned long)prog;
        load.insn_cnt = 2;
        load.license = (unsigned long)"GPL";
        int fd = bpf(BPF_PROG_LOAD, &load);
        if (fd < 0) { perror("noop_hooks: load"); return 1; }
        union bpf_attr attach;
        memset(&attach, 0, sizeof(attach));
        attach.raw_tracepoint.name = (unsigned long)argv[i];
        attach.raw_tracepoint.prog_fd = fd;
        if (bpf(BPF_RAW_TRACEPOINT_OPEN, &attach) < 0) { perror("noop_hooks: attach"); return 1; }
    }
    fprintf(stderr, "noop_hooks: attached\n");
    pause();
    return 0;
}
