package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// runFreePorts prints N distinct TCP ports free on 127.0.0.1, one a line. They
// are drawn below the kernel's ephemeral range, so that outgoing connections
// (which take ephemeral source ports) cannot occupy them between two `up`s.
func runFreePorts() int {
	n := 1
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 || v > 64 {
			fmt.Fprintln(os.Stderr, "free-ports: argument must be a count from 1 to 64")
			return 2
		}
		n = v
	}
	lo, hi := 20000, 32000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if e, err := strconv.Atoi(f[0]); err == nil && e > 11000 && e < hi {
				hi = e
				lo = e - 10000
			}
		}
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(ls) < n; tries++ {
		if tries > 1000 {
			fmt.Fprintln(os.Stderr, "free-ports: no free port found")
			return 1
		}
		p := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		fmt.Println(p)
	}
	return 0
}
