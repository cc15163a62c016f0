package timefmt_test

import (
	"fmt"

	"github.com/audex/audex/internal/timefmt"
)

func Example() {
	for _, s := range []string{"90.25", "1:30.25", "00:01:30.250", "1:02:03"} {
		d, err := timefmt.Parse(s)
		if err != nil {
			panic(err)
		}
		fmt.Println(s, "=", d, "=", timefmt.Format(d), "=", timefmt.Seconds(d), "s")
	}
	_, err := timefmt.Parse("1:75")
	fmt.Println(err)
	// Output:
	// 90.25 = 1m30.25s = 00:01:30.25 = 90.25 s
	// 1:30.25 = 1m30.25s = 00:01:30.25 = 90.25 s
	// 00:01:30.250 = 1m30.25s = 00:01:30.25 = 90.25 s
	// 1:02:03 = 1h2m3s = 01:02:03 = 3723 s
	// invalid time "1:75": field "75" must be below 60
}
