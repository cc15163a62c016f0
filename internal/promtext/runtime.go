package promtext

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// GoCollector writes the Go runtime's metrics under the names, help texts
// and types of the official client's Go collector (go_goroutines,
// go_threads, go_gc_duration_seconds, go_info, go_memstats_*,
// go_gc_gogc_percent, go_gc_gomemlimit_bytes, go_sched_gomaxprocs_threads).
func GoCollector() Collector {
	return CollectorFunc(func(add func(Family)) {
		gauge := func(name, help string, v float64) {
			add(Family{Name: name, Help: help, Type: GaugeType, Series: []Series{{Value: v}}})
		}
		counter := func(name, help string, v float64) {
			add(Family{Name: name, Help: help, Type: CounterType, Series: []Series{{Value: v}}})
		}
		gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
		threads, _ := runtime.ThreadCreateProfile(nil)
		gauge("go_threads", "Number of OS threads created.", float64(threads))

		var gc debug.GCStats
		gc.PauseQuantiles = make([]time.Duration, 5)
		debug.ReadGCStats(&gc)
		q := map[float64]float64{}
		for i, p := range gc.PauseQuantiles {
			q[float64(i)/float64(len(gc.PauseQuantiles)-1)] = p.Seconds()
		}
		add(Family{Name: "go_gc_duration_seconds", Help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
			Type: SummaryType, Series: []Series{{Summary: &SummaryValue{Quantiles: q, Sum: gc.PauseTotal.Seconds(), Count: uint64(gc.NumGC)}}}})
		var last float64
		if !gc.LastGC.IsZero() {
			last = float64(gc.LastGC.UnixNano()) / 1e9
		}
		gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", last)
		add(Family{Name: "go_info", Help: "Information about the Go environment.", Type: GaugeType,
			Series: []Series{{Labels: []Label{{"version", runtime.Version()}}, Value: 1}}})

		gauge("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.", gogc())
		gauge("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.", float64(debug.SetMemoryLimit(-1)))
		gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", float64(runtime.GOMAXPROCS(0)))

		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		for _, m := range memStats {
			if m.counter {
				counter("go_memstats_"+m.name, m.help, float64(m.eval(&ms)))
			} else {
				gauge("go_memstats_"+m.name, m.help, float64(m.eval(&ms)))
			}
		}
	})
}

// gogc is the GC percentage as the runtime took it from GOGC (audex never
// calls debug.SetGCPercent in a server): -1 for off.
func gogc() float64 {
	s := os.Getenv("GOGC")
	if s == "off" {
		return -1
	}
	if n, err := strconv.Atoi(s); err == nil {
		return float64(n)
	}
	return 100
}

var memStats = []struct {
	name, help string
	counter    bool
	eval       func(*runtime.MemStats) uint64
}{
	{"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", false, func(m *runtime.MemStats) uint64 { return m.Alloc }},
	{"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", true, func(m *runtime.MemStats) uint64 { return m.TotalAlloc }},
	{"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", false, func(m *runtime.MemStats) uint64 { return m.Sys }},
	{"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", true, func(m *runtime.MemStats) uint64 { return m.Mallocs }},
	{"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", true, func(m *runtime.MemStats) uint64 { return m.Frees }},
	{"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapAlloc }},
	{"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapSys }},
	{"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapIdle }},
	{"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", false, func(m *runtime.MemStats) uint64 { return m.HeapInuse }},
	{"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapReleased }},
	{"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", false, func(m *runtime.MemStats) uint64 { return m.HeapObjects }},
	{"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", false, func(m *runtime.MemStats) uint64 { return m.StackInuse }},
	{"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", false, func(m *runtime.MemStats) uint64 { return m.StackSys }},
	{"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MSpanInuse }},
	{"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MSpanSys }},
	{"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MCacheInuse }},
	{"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MCacheSys }},
	{"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", false, func(m *runtime.MemStats) uint64 { return m.BuckHashSys }},
	{"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", false, func(m *runtime.MemStats) uint64 { return m.GCSys }},
	{"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", false, func(m *runtime.MemStats) uint64 { return m.OtherSys }},
	{"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", false, func(m *runtime.MemStats) uint64 { return m.NextGC }},
}

// ProcessCollector writes the process's metrics under the official
// client's names (process_cpu_seconds_total, process_open_fds,
// process_max_fds, process_virtual_memory_bytes,
// process_virtual_memory_max_bytes, process_resident_memory_bytes,
// process_start_time_seconds, process_network_receive_bytes_total,
// process_network_transmit_bytes_total), read from /proc. Where /proc
// cannot be read, the metrics it would give are left out.
func ProcessCollector() Collector {
	return CollectorFunc(func(add func(Family)) {
		one := func(name, help string, t Type, v float64) {
			add(Family{Name: name, Help: help, Type: t, Series: []Series{{Value: v}}})
		}
		if st, ok := readStat(); ok {
			one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", CounterType, st.cpu)
			one("process_virtual_memory_bytes", "Virtual memory size in bytes.", GaugeType, st.vsize)
			one("process_resident_memory_bytes", "Resident memory size in bytes.", GaugeType, st.rss)
			if bt, ok := bootTime(); ok {
				one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", GaugeType, bt+st.start)
			}
		}
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
			one("process_open_fds", "Number of open file descriptors.", GaugeType, float64(len(ents)))
		}
		if files, space, ok := readLimits(); ok {
			one("process_max_fds", "Maximum number of open file descriptors.", GaugeType, files)
			one("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", GaugeType, space)
		}
		if in, out, ok := readNetstat(); ok {
			one("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", CounterType, in)
			one("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", CounterType, out)
		}
	})
}

// userHZ is the kernel's USER_HZ, the unit of times in /proc (100 on every
// Linux the official client knows of; it assumes the same).
const userHZ = 100

type procStat struct{ cpu, vsize, rss, start float64 }

// readStat reads /proc/self/stat: utime and stime (fields 14, 15),
// starttime (22), vsize (23) and rss in pages (24).
func readStat() (procStat, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	field := func(n int) float64 {
		if n-3 >= len(f) {
			return 0
		}
		v, _ := strconv.ParseFloat(f[n-3], 64)
		return v
	}
	if len(f) < 22 {
		return procStat{}, false
	}
	return procStat{
		cpu:   (field(14) + field(15)) / userHZ,
		start: field(22) / userHZ,
		vsize: field(23),
		rss:   field(24) * float64(os.Getpagesize()),
	}, true
}

// bootTime is the btime line of /proc/stat.
func bootTime() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return n, err == nil
		}
	}
	return 0, false
}

// readLimits reads the soft limits on open files and address space from
// /proc/self/limits; "unlimited" is the largest uint64.
func readLimits() (files, space float64, ok bool) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, 0, false
	}
	soft := func(line, name string) (float64, bool) {
		rest, found := strings.CutPrefix(line, name)
		if !found {
			return 0, false
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		if f[0] == "unlimited" {
			return float64(^uint64(0)), true
		}
		v, err := strconv.ParseFloat(f[0], 64)
		return v, err == nil
	}
	var gotFiles, gotSpace bool
	for line := range strings.Lines(string(b)) {
		if v, ok := soft(line, "Max open files"); ok {
			files, gotFiles = v, true
		}
		if v, ok := soft(line, "Max address space"); ok {
			space, gotSpace = v, true
		}
	}
	return files, space, gotFiles && gotSpace
}

// readNetstat reads InOctets and OutOctets of the IpExt lines of
// /proc/self/net/netstat (a header line, then a line of values).
func readNetstat() (in, out float64, ok bool) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, false
	}
	var header []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "IpExt:" {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		for i, name := range header {
			if i >= len(f) {
				break
			}
			switch name {
			case "InOctets":
				in, _ = strconv.ParseFloat(f[i], 64)
			case "OutOctets":
				out, _ = strconv.ParseFloat(f[i], 64)
			}
		}
		return in, out, true
	}
	return 0, 0, false
}
