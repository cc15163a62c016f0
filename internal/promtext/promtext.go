// Package promtext is a small Prometheus client: counters, gauges and
// histograms, with or without labels, and a registry that writes them in the
// Prometheus text exposition format 0.0.4.
//
// It exists so that the audex binary does not link the official client,
// whose package initialisation (protobuf descriptors, procfs, registries)
// every audex process paid for, serving or not. Nothing here runs before
// first use.
//
// The output follows what the official client writes: one family per name
// with its HELP and TYPE lines, families sorted by name, the series of a
// family sorted by label values, label names sorted, histogram buckets
// cumulative with le last, values as strconv's shortest 'g' form, families
// without series left out.
package promtext

import (
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Type is a metric family's type, as written on its TYPE line.
type Type string

// Types of families.
const (
	CounterType   Type = "counter"
	GaugeType     Type = "gauge"
	HistogramType Type = "histogram"
	SummaryType   Type = "summary"
)

// Label is one label pair of a series.
type Label struct{ Name, Value string }

// Family is one metric family as gathered at scrape time.
type Family struct {
	Name, Help string
	Type       Type
	Series     []Series
}

// Series is one time series of a family: a value (counter, gauge), or a
// histogram or summary.
type Series struct {
	Labels    []Label
	Value     float64
	Histogram *HistogramValue
	Summary   *SummaryValue
}

// HistogramValue is a histogram's state: Counts[i] observations fell at or
// below Bounds[i] and above Bounds[i-1] (not cumulative); the +Inf bucket
// is Count.
type HistogramValue struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
	Count  uint64
}

// SummaryValue is a summary's state: Quantiles maps a quantile (0..1) to its
// value.
type SummaryValue struct {
	Quantiles map[float64]float64
	Sum       float64
	Count     uint64
}

// Collector adds families at scrape time.
type Collector interface {
	Collect(add func(Family))
}

// CollectorFunc is a function as a Collector.
type CollectorFunc func(add func(Family))

// Collect calls f.
func (f CollectorFunc) Collect(add func(Family)) { f(add) }

// Registry holds collectors and writes what they collect. Its zero value is
// ready to use.
type Registry struct {
	mu         sync.Mutex
	collectors []Collector
}

// Register adds collectors.
func (r *Registry) Register(cs ...Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, cs...)
}

// Gather collects every family, sorted by name, with the series of each
// family sorted by label values; families without series are left out and
// families of the same name merged.
func (r *Registry) Gather() []Family {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	byName := map[string]int{}
	var fams []Family
	for _, c := range cs {
		c.Collect(func(f Family) {
			if i, ok := byName[f.Name]; ok {
				fams[i].Series = append(fams[i].Series, f.Series...)
				return
			}
			byName[f.Name] = len(fams)
			fams = append(fams, f)
		})
	}
	out := fams[:0]
	for _, f := range fams {
		if len(f.Series) == 0 {
			continue
		}
		for i := range f.Series {
			f.Series[i].Labels = sortedLabels(f.Series[i].Labels)
		}
		sort.SliceStable(f.Series, func(i, j int) bool { return lessLabels(f.Series[i].Labels, f.Series[j].Labels) })
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ContentType is the media type of the text format written by WriteTo.
const ContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// WriteTo writes every family in the text exposition format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	var b []byte
	for _, f := range r.Gather() {
		b = AppendFamily(b, f)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// AppendFamily appends f in the text exposition format to b.
func AppendFamily(b []byte, f Family) []byte {
	if f.Help != "" {
		b = append(b, "# HELP "...)
		b = append(b, f.Name...)
		b = append(b, ' ')
		b = appendEscaped(b, f.Help, false)
		b = append(b, '\n')
	}
	b = append(b, "# TYPE "...)
	b = append(b, f.Name...)
	b = append(b, ' ')
	b = append(b, f.Type...)
	b = append(b, '\n')
	for _, s := range f.Series {
		switch {
		case s.Histogram != nil:
			h := s.Histogram
			var cum uint64
			for i, bound := range h.Bounds {
				cum += h.Counts[i]
				b = appendSample(b, f.Name, "_bucket", s.Labels, Label{"le", formatFloat(bound)}, float64(cum))
			}
			b = appendSample(b, f.Name, "_bucket", s.Labels, Label{"le", "+Inf"}, float64(h.Count))
			b = appendSample(b, f.Name, "_sum", s.Labels, Label{}, h.Sum)
			b = appendSample(b, f.Name, "_count", s.Labels, Label{}, float64(h.Count))
		case s.Summary != nil:
			q := s.Summary
			keys := make([]float64, 0, len(q.Quantiles))
			for k := range q.Quantiles {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				b = appendSample(b, f.Name, "", s.Labels, Label{"quantile", formatFloat(k)}, q.Quantiles[k])
			}
			b = appendSample(b, f.Name, "_sum", s.Labels, Label{}, q.Sum)
			b = appendSample(b, f.Name, "_count", s.Labels, Label{}, float64(q.Count))
		default:
			b = appendSample(b, f.Name, "", s.Labels, Label{}, s.Value)
		}
	}
	return b
}

func appendSample(b []byte, name, suffix string, labels []Label, extra Label, v float64) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if len(labels) > 0 || extra.Name != "" {
		b = append(b, '{')
		for i, l := range labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, l)
		}
		if extra.Name != "" {
			if len(labels) > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, extra)
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = append(b, formatFloat(v)...)
	return append(b, '\n')
}

func appendLabel(b []byte, l Label) []byte {
	b = append(b, l.Name...)
	b = append(b, `="`...)
	b = appendEscaped(b, l.Value, true)
	return append(b, '"')
}

// appendEscaped escapes a backslash and a line feed, and in label values a
// double quote, as the format asks.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func sortedLabels(ls []Label) []Label {
	if slices.IsSortedFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) }) {
		return ls
	}
	ls = slices.Clone(ls)
	slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return ls
}

func lessLabels(a, b []Label) bool {
	for i := range min(len(a), len(b)) {
		if a[i].Name != b[i].Name {
			return a[i].Name < b[i].Name
		}
		if a[i].Value != b[i].Value {
			return a[i].Value < b[i].Value
		}
	}
	return len(a) < len(b)
}

// atomicFloat is a float64 updated without a lock.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) add(v float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (f *atomicFloat) set(v float64) { f.bits.Store(math.Float64bits(v)) }
func (f *atomicFloat) get() float64  { return math.Float64frombits(f.bits.Load()) }

// Counter only goes up.
type Counter struct{ v atomicFloat }

// Inc adds 1.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds v, which must not be negative (a negative v is ignored).
func (c *Counter) Add(v float64) {
	if v > 0 {
		c.v.add(v)
	}
}

// Value is the current count.
func (c *Counter) Value() float64 { return c.v.get() }

// Gauge goes up and down.
type Gauge struct{ v atomicFloat }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.v.set(v) }

// Inc adds 1.
func (g *Gauge) Inc() { g.v.add(1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { g.v.add(-1) }

// Add adds v.
func (g *Gauge) Add(v float64) { g.v.add(v) }

// Value is the current value.
func (g *Gauge) Value() float64 { return g.v.get() }

// Histogram counts observations in buckets.
type Histogram struct {
	bounds []float64
	mu     sync.Mutex
	counts []uint64
	sum    float64
	count  uint64
}

func newHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

// Observe adds one observation.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // the first bound >= v
	h.mu.Lock()
	defer h.mu.Unlock()
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.sum += v
	h.count++
}

func (h *Histogram) value() *HistogramValue {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &HistogramValue{Bounds: h.bounds, Counts: slices.Clone(h.counts), Sum: h.sum, Count: h.count}
}

// ExponentialBuckets is count bounds from start, each factor times the last.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	b := make([]float64, count)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// Opts names a metric.
type Opts struct {
	Name, Help string
}

// vec is a metric of each kind per combination of label values.
type vec[M any] struct {
	opts   Opts
	labels []string
	make   func() *M
	mu     sync.Mutex
	series map[string]*entry[M]
}

type entry[M any] struct {
	values []string
	m      *M
}

func (v *vec[M]) with(values []string) *M {
	if len(values) != len(v.labels) {
		panic("promtext: " + v.opts.Name + ": want " + strconv.Itoa(len(v.labels)) + " label values")
	}
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.series[key]
	if !ok {
		if v.series == nil {
			v.series = map[string]*entry[M]{}
		}
		e = &entry[M]{values: slices.Clone(values), m: v.make()}
		v.series[key] = e
	}
	return e.m
}

func (v *vec[M]) each(f func(labels []Label, m *M)) {
	v.mu.Lock()
	es := make([]*entry[M], 0, len(v.series))
	for _, e := range v.series {
		es = append(es, e)
	}
	v.mu.Unlock()
	for _, e := range es {
		ls := make([]Label, len(v.labels))
		for i, n := range v.labels {
			ls[i] = Label{n, e.values[i]}
		}
		f(ls, e.m)
	}
}

// NewCounter is a counter without labels.
func NewCounter(o Opts) *CounterVec { return NewCounterVec(o) }

// CounterVec is a counter per combination of label values.
type CounterVec struct{ v vec[Counter] }

// NewCounterVec makes a counter with the given label names.
func NewCounterVec(o Opts, labels ...string) *CounterVec {
	return &CounterVec{v: vec[Counter]{opts: o, labels: labels, make: func() *Counter { return new(Counter) }}}
}

// WithLabelValues is the counter of these label values (in the order of the names).
func (c *CounterVec) WithLabelValues(values ...string) *Counter { return c.v.with(values) }

// Inc adds 1 to the counter without labels.
func (c *CounterVec) Inc() { c.WithLabelValues().Inc() }

// Add adds v to the counter without labels.
func (c *CounterVec) Add(v float64) { c.WithLabelValues().Add(v) }

// Collect implements Collector. A counter without labels is written from
// the start (as 0); one with labels once it has been used.
func (c *CounterVec) Collect(add func(Family)) {
	if len(c.v.labels) == 0 {
		c.WithLabelValues()
	}
	f := Family{Name: c.v.opts.Name, Help: c.v.opts.Help, Type: CounterType}
	c.v.each(func(ls []Label, m *Counter) { f.Series = append(f.Series, Series{Labels: ls, Value: m.Value()}) })
	add(f)
}

// GaugeVec is a gauge per combination of label values.
type GaugeVec struct{ v vec[Gauge] }

// NewGauge is a gauge without labels.
func NewGauge(o Opts) *GaugeVec { return NewGaugeVec(o) }

// NewGaugeVec makes a gauge with the given label names.
func NewGaugeVec(o Opts, labels ...string) *GaugeVec {
	return &GaugeVec{v: vec[Gauge]{opts: o, labels: labels, make: func() *Gauge { return new(Gauge) }}}
}

// WithLabelValues is the gauge of these label values.
func (g *GaugeVec) WithLabelValues(values ...string) *Gauge { return g.v.with(values) }

// Inc adds 1 to the gauge without labels.
func (g *GaugeVec) Inc() { g.WithLabelValues().Inc() }

// Dec subtracts 1 from the gauge without labels.
func (g *GaugeVec) Dec() { g.WithLabelValues().Dec() }

// Set sets the gauge without labels.
func (g *GaugeVec) Set(v float64) { g.WithLabelValues().Set(v) }

// Collect implements Collector.
func (g *GaugeVec) Collect(add func(Family)) {
	if len(g.v.labels) == 0 {
		g.WithLabelValues()
	}
	f := Family{Name: g.v.opts.Name, Help: g.v.opts.Help, Type: GaugeType}
	g.v.each(func(ls []Label, m *Gauge) { f.Series = append(f.Series, Series{Labels: ls, Value: m.Value()}) })
	add(f)
}

// HistogramVec is a histogram per combination of label values.
type HistogramVec struct{ v vec[Histogram] }

// NewHistogram is a histogram without labels; bounds are the buckets'
// upper bounds, ascending (+Inf is implied).
func NewHistogram(o Opts, bounds []float64) *HistogramVec { return NewHistogramVec(o, bounds) }

// NewHistogramVec makes a histogram with the given label names.
func NewHistogramVec(o Opts, bounds []float64, labels ...string) *HistogramVec {
	if !slices.IsSorted(bounds) {
		panic("promtext: " + o.Name + ": bucket bounds must ascend")
	}
	bounds = slices.Clone(bounds)
	return &HistogramVec{v: vec[Histogram]{opts: o, labels: labels, make: func() *Histogram { return newHistogram(bounds) }}}
}

// WithLabelValues is the histogram of these label values.
func (h *HistogramVec) WithLabelValues(values ...string) *Histogram { return h.v.with(values) }

// Observe adds an observation to the histogram without labels.
func (h *HistogramVec) Observe(v float64) { h.WithLabelValues().Observe(v) }

// Collect implements Collector.
func (h *HistogramVec) Collect(add func(Family)) {
	if len(h.v.labels) == 0 {
		h.WithLabelValues()
	}
	f := Family{Name: h.v.opts.Name, Help: h.v.opts.Help, Type: HistogramType}
	h.v.each(func(ls []Label, m *Histogram) { f.Series = append(f.Series, Series{Labels: ls, Histogram: m.value()}) })
	add(f)
}
