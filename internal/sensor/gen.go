package sensor

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -target amd64 -type vigil_hdr -type vigil_net -type vigil_exec -type vigil_desc -type vigil_drop_reason -type vigil_rec_kind -type vigil_addr_mode -type vigil_type -type vigil_tier -type vigil_type_conf -type vigil_prefix_key -type vigil_sysbits_limits -type vigil_fd_track -type vigil_snap -type vigil_buf_mode -type vigil_family -type vigil_file vigil bpf/sensor.c -- -I./bpf/include -I./bpf -O2 -g -Wall -Werror
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -target amd64 empty bpf/empty.c -- -I./bpf/include -O2 -g -Wall -Werror
//go:generate go run gen_syscalls.go /usr/include/x86_64-linux-gnu/asm/unistd_64.h syscallnames.go
