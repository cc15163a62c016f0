package cli

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every audex process pays for the package initialisation of everything
// linked into the binary (README, "Start-up: a process per job"). These
// checks use what does not depend on the machine's load: which packages are
// linked, and how much the package initialisers allocate.

// heavyInit are modules whose package initialisation cost every audex
// process milliseconds before they were dropped.
var heavyInit = []string{
	"github.com/prometheus/",          // registries, procfs; pulls in protobuf
	"google.golang.org/protobuf/",     // descriptors; detrand reads the executable
	"gonum.org/v1/plot",               // fonts parsed at init
	"codeberg.org/go-latex/",          // symbol tables
	"github.com/schollz/progressbar/", // colour and Unicode-width tables
	"github.com/mitchellh/colorstring",
}

func TestStartupLinksNoHeavyInit(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/audex/audex/cmd/audex").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for pkg := range strings.Lines(string(out)) {
		for _, heavy := range heavyInit {
			assert.False(t, strings.HasPrefix(pkg, heavy), "cmd/audex links %s", strings.TrimSpace(pkg))
		}
	}
}

// initBudget bounds the bytes the package initialisers of the audex
// binary allocate (GODEBUG=inittrace=1): 629 KB before start-up was
// trimmed, 67 KB after, 224 KB once the S3 client was linked (its endpoint
// table is 93 KB), 301 KB once River and pgx were (68 KB: River's SQL
// templates and its pgx driver's queries are most of it).
const initBudget = 350_000

func TestStartupInitAllocations(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(audexBinary(t), "--help")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	line := regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, [0-9.]+ ms clock, ([0-9]+) bytes, [0-9]+ allocs$`)
	var total int
	var top []string
	for _, m := range line.FindAllStringSubmatch(string(out), -1) {
		n, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		total += n
		if n > 16<<10 {
			top = append(top, m[1]+" "+m[2])
		}
	}
	require.NotZero(t, total, "no inittrace lines in:\n%s", out)
	assert.Less(t, total, initBudget, "package initialisers allocate %d bytes; the largest: %s", total, strings.Join(top, ", "))
}
