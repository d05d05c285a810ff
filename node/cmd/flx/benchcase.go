package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/fedadmin"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// benchCaseCmds are flx bench import and flx bench search.
func benchCaseCmds() []*cobra.Command {
	var pg, stores, reuse, cpuProfile string
	var n, batch, queries int
	var keep, skipInvalid, forward bool
	var kind string
	imp := &cobra.Command{
		Use:   "import",
		Short: "Import --n cases through flx case import into a real node, with the CPU per case and the ratio to a floor",
		Long: `Start a node (XA-RC) on a new database of each store (--stores sqlite,postgres),
write --n case documents (about 3 KiB each, names in several scripts) as
JSON Lines, and import them with flx case import over the local API: every
row checked, then batches of --batch, each one transaction with the
search keys. Report the wall time, cases per second and the CPU time per
case of this process (client and node; PostgreSQL's own processes are not
counted), then the same file imported again (every case exists: nothing
is created twice), and a floor measured in the same run: one schema
validation per case plus a bulk insert of the same documents without
search keys, HTTP or checks, into another new database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return runBenchImport(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), pg, stores, n, batch, skipInvalid, forward)
		},
	}
	imp.Flags().StringVar(&pg, "postgres", envOr("FLX_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server DSN allowed to create databases")
	imp.Flags().StringVar(&stores, "stores", "sqlite,postgres", "stores to measure: sqlite, postgres or both")
	imp.Flags().IntVar(&n, "n", 100000, "cases to import")
	imp.Flags().IntVar(&batch, "batch", 500, "cases per request (one transaction each)")
	imp.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run (client and node) to this file")
	imp.Flags().BoolVar(&skipInvalid, "skip-invalid", false, "import as flx case import --skip-invalid does (the schema checked by the node only)")
	imp.Flags().BoolVar(&forward, "forward", false, "import as flx case import --forward XB-RC does (each case judged and queued for a member that is not running)")

	srch := &cobra.Command{
		Use:   "search",
		Short: "Search latency over --n cases on PostgreSQL or SQLite (p50, p95, max) and the ratio to a primary-key read",
		Long: `Fill a new database (--store postgres, the default, or sqlite) with --n cases and their search keys (one
person each with a name from a mix of scripts, a birth date or an age range,
a place; bulk insert, no checks), then run --queries searches of each kind
(a family name in another script or spelling, a name with a birth year, an
age range with a status, an age range alone, a rare birth-year range alone
(no case: the worst case for a walk), a place with a name, a free-text word), each
through the store's index with a page of 50, and report p50, p95 and max
per kind and overall, beside the p95 of reading one case by its id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchSearch(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), kind, pg, reuse, n, queries, keep)
		},
	}
	srch.Flags().StringVar(&kind, "store", "postgres", "store to fill: postgres or sqlite (a file in a temporary directory)")
	srch.Flags().BoolVar(&keep, "keep", false, "keep the filled database and print its DSN (for --database)")
	srch.Flags().StringVar(&reuse, "database", "", "query this database, filled by an earlier run with the same --n, instead of filling a new one (kept)")
	srch.Flags().StringVar(&pg, "postgres", envOr("FLX_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server DSN allowed to create databases")
	srch.Flags().IntVar(&n, "n", 1000000, "cases in the database")
	srch.Flags().IntVar(&queries, "queries", 100, "searches of each kind")
	return []*cobra.Command{imp, srch}
}

// Synthetic names: a few families written in several scripts and
// spellings (the ones searched for), and many invented ones.
var (
	benchFamilies = [][]string{
		{"Հովհաննիսյան", "Hovhannisyan", "Ovanesyan", "Oganesyan", "Оганесян"},
		{"Петросян", "Petrosyan", "Պետրոսյան"},
		{"حداد", "Haddad", "Hadad", "Al-Haddad"},
		{"نموذجي", "Namudhaji", "Namoudhaji"},
	}
	benchSyllables = []string{"ka", "ro", "mi", "la", "san", "tur", "ve", "no", "dar", "bek", "li", "sha", "gor", "an", "yel", "pa", "zu", "tem", "ri", "os"}
	benchPlaces    = []string{"Mockford", "Sampleville", "Testburg", "Exampleton", "Placeholder Bay", "Northfield", "Riverside", "Eastgate"}
)

func benchWord(r *rand.Rand, parts int) string {
	var sb strings.Builder
	for range parts {
		sb.WriteString(benchSyllables[r.IntN(len(benchSyllables))])
	}
	s := sb.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

// benchPerson is a person of a synthetic case: one in 500 of a searched
// family, the others of invented ones.
func benchPerson(r *rand.Rand) schema.Person {
	family := benchWord(r, 3) + "yan"
	if r.IntN(500) == 0 {
		f := benchFamilies[r.IntN(len(benchFamilies))]
		family = f[r.IntN(len(f))]
	}
	p := schema.Person{ID: "p1", Roles: []schema.PersonRole{"sought_person"},
		Names:   []schema.Name{{Value: benchWord(r, 2) + " " + family}},
		Address: &schema.Place{Country: "XB", Locality: benchPlaces[r.IntN(len(benchPlaces))]}}
	if r.IntN(4) == 0 {
		lo := 5 + r.IntN(60)
		hi := lo + 2
		p.Age = &schema.Age{Min: &lo, Max: &hi, AsOf: "2025-01"}
	} else {
		p.BirthDate = schema.PartialDate(fmt.Sprintf("%04d-%02d", 1940+r.IntN(80), 1+r.IntN(12)))
	}
	return p
}

// benchImportDoc is the demo case with invented names and dates: the
// sought person's name, and its birth date or age range, from benchPerson
// (with the demo's one birth year, every pair of look-alike names in a
// list of 100,000 would be a candidate match).
func benchImportDoc(r *rand.Rand, i int) []byte {
	var doc map[string]any
	_ = json.Unmarshal(demoDoc("case"), &doc)
	doc["case_id"] = fmt.Sprintf("XA-RC:IMPORT-%07d", i)
	persons := doc["persons"].([]any)
	bp := benchPerson(r)
	p := persons[len(persons)-1].(map[string]any)
	p["names"] = []any{map[string]any{"value": bp.Names[0].Value}}
	delete(p, "birth_date")
	if bp.Age != nil {
		p["age"] = bp.Age
	} else {
		p["birth_date"] = bp.BirthDate
	}
	b, _ := json.Marshal(doc)
	return b
}

func runBenchImport(ctx context.Context, out, progress io.Writer, pg, stores string, n, batch int, skipInvalid, forward bool) error {
	if n < 1 || batch < 1 || batch > 1000 {
		return fmt.Errorf("bench import: --n must be positive and --batch from 1 to 1000")
	}
	dir, err := os.MkdirTemp("", "flx-bench-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fedDir := filepath.Join(dir, "federation")
	addr, err := freePort()
	if err != nil {
		return err
	}
	if _, _, err := fedadmin.Init(fedDir, fedadmin.InitConfig{Name: "FLX bench", Members: []fedadmin.MemberSpec{
		{ID: "XA-RC", Country: "XA", Role: federation.RoleSociety, Endpoint: "https://" + addr},
		{ID: "XB-RC", Country: "XB", Role: federation.RoleSociety, Endpoint: "https://127.0.0.1:9"},
	}}); err != nil {
		return err
	}
	token, err := benchToken(fedadmin.MemberPath(fedDir, "XA-RC", fedadmin.MemberTokensFile), "caseworker")
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "cases.jsonl")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([][]byte, n)
	for i := range n {
		docs[i] = benchImportDoc(r, i)
		w.Write(docs[i])
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	f.Close()
	fmt.Fprintf(out, "bench import: %d cases (%d bytes each on average) as JSON Lines, batches of %d, one process (client and node)\n",
		n, int(fileSize(file))/n, batch)
	for _, kind := range strings.Split(stores, ",") {
		kind = strings.TrimSpace(kind)
		newDSN := func(name string) (string, func(), error) {
			switch kind {
			case "sqlite":
				return "sqlite:" + filepath.Join(dir, name+".db"), func() {}, nil
			case "postgres":
				dsn, drop, err := store.CreatePostgresDatabase(ctx, pg, fmt.Sprintf("flx_bench_%d_%s", time.Now().UnixNano(), name))
				if err != nil {
					return "", nil, fmt.Errorf("bench: %w (is PostgreSQL running? --postgres)", err)
				}
				return dsn, func() { drop(context.Background()) }, nil
			}
			return "", nil, fmt.Errorf("bench import: store %q: want sqlite or postgres", kind)
		}
		dsn, drop, err := newDSN("import")
		if err != nil {
			return err
		}
		res, err := benchImportOnce(ctx, fedDir, addr, dsn, token, file, batch, skipInvalid, forward, progress)
		drop()
		if err != nil {
			return err
		}
		fdsn, fdrop, err := newDSN("floor")
		if err != nil {
			return err
		}
		floor, err := benchImportFloor(ctx, fdsn, docs, batch)
		fdrop()
		if err != nil {
			return err
		}
		per := res.cpu / time.Duration(n)
		fper := floor.cpu / time.Duration(n)
		ratio := 0.0
		if fper > 0 {
			ratio = float64(per) / float64(fper)
		}
		verdict := "within"
		if res.wall > 60*time.Second {
			verdict = "OVER"
		}
		fmt.Fprintf(out, "  %-8s import  %6.1f s (%s the 60 s target), %6.0f cases/s, CPU %v per case\n", kind, res.wall.Seconds(), verdict, float64(n)/res.wall.Seconds(), per.Round(time.Microsecond))
		fmt.Fprintf(out, "  %-8s re-run  %6.1f s: %d created, %d existing (nothing twice)\n", kind, res.rerun.Seconds(), res.rerunCreated, res.rerunExisting)
		fmt.Fprintf(out, "  %-8s floor   %6.1f s, CPU %v per case (one validation + bulk insert without keys); import/floor CPU ratio %.2f\n", kind, floor.wall.Seconds(), fper.Round(time.Microsecond), ratio)
		if res.dbCPU > 0 {
			dper, dfper := res.dbCPU/time.Duration(n), floor.dbCPU/time.Duration(n)
			fmt.Fprintf(out, "  %-8s server  CPU %v per case in PostgreSQL's backends (floor %v): import %v per case in all, %.1f s of CPU for the %d cases on %d cores\n",
				kind, dper.Round(time.Microsecond), dfper.Round(time.Microsecond), (per + dper).Round(time.Microsecond), (res.cpu + res.dbCPU).Seconds(), n, runtime.NumCPU())
		}
	}
	return nil
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func benchToken(path, role string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == role {
			return f[2], nil
		}
	}
	return "", fmt.Errorf("bench: no %s token in %s", role, path)
}

type benchImportResult struct {
	wall, cpu, rerun            time.Duration
	dbCPU                       time.Duration // PostgreSQL's backends, during the import
	rerunCreated, rerunExisting int
}

func benchImportOnce(ctx context.Context, fedDir, addr, dsn, token, file string, batch int, skipInvalid, forward bool, progress io.Writer) (benchImportResult, error) {
	var res benchImportResult
	cfg, err := config.Load(filepath.Join(fedadmin.MemberDir(fedDir, "XA-RC"), fedadmin.MemberConfigFile), func(string) (string, bool) { return "", false })
	if err != nil {
		return res, err
	}
	cfg.Store.DSN = dsn
	cfg.Federation.Listen = addr
	if cfg.LocalAPI.Listen, err = freePort(); err != nil {
		return res, err
	}
	rn, err := startNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return res, err
	}
	defer func() { rn.Stop(); rn.Wait() }()
	var sum bytes.Buffer
	c := &apiClient{base: "http://" + rn.LocalAddr, token: token, http: &http.Client{Timeout: 5 * time.Minute}, out: &sum}
	o := importOptions{batch: batch, skipInvalid: skipInvalid, errOut: io.Discard, progress: progress}
	if forward {
		o.forward = "XB-RC"
	}
	pgc := newPGServerCPU(ctx, dsn)
	cpu0, t0 := cputime.Process(), time.Now()
	if err := runImport(ctx, c, file, o); err != nil {
		return res, fmt.Errorf("bench import: %w: %s", err, sum.String())
	}
	res.wall, res.cpu, res.dbCPU = time.Since(t0), cputime.Process()-cpu0, pgc.used(ctx)
	sum.Reset()
	t1 := time.Now()
	if err := runImport(ctx, c, file, o); err != nil {
		return res, fmt.Errorf("bench import (re-run): %w: %s", err, sum.String())
	}
	res.rerun = time.Since(t1)
	var s importSummary
	if err := json.Unmarshal(sum.Bytes(), &s); err != nil {
		return res, err
	}
	res.rerunCreated, res.rerunExisting = s.Created, s.Existing
	return res, nil
}

type benchFloor struct{ wall, cpu, dbCPU time.Duration }

func benchImportFloor(ctx context.Context, dsn string, docs [][]byte, batch int) (benchFloor, error) {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return benchFloor{}, err
	}
	defer st.Close()
	pgc := newPGServerCPU(ctx, dsn)
	cpu0, t0 := cputime.Process(), time.Now()
	for i := 0; i < len(docs); i += batch {
		var cs []store.NewCase
		for j, d := range docs[i:min(i+batch, len(docs))] {
			if err := schema.Validate(schema.KindCase, d); err != nil {
				return benchFloor{}, err
			}
			cs = append(cs, store.NewCase{ID: fmt.Sprintf("XA-RC:FLOOR-%07d", i+j), Origin: "XA-RC", Type: "tracing_request", Status: "open", Document: d})
		}
		if _, err := st.CreateCases(ctx, cs); err != nil {
			return benchFloor{}, err
		}
	}
	return benchFloor{wall: time.Since(t0), cpu: cputime.Process() - cpu0, dbCPU: pgc.used(ctx)}, nil
}

func runBenchSearch(ctx context.Context, out, progress io.Writer, kind, pg, reuse string, n, queries int, keep bool) error {
	if n < 1000 || queries < 1 {
		return fmt.Errorf("bench search: --n must be at least 1000 and --queries positive")
	}
	statuses := []string{"open", "tracing_in_progress", "located_contact_restored", "closed_negative"}
	r := rand.New(rand.NewPCG(3, 4))
	if reuse != "" {
		st, err := store.Open(ctx, reuse)
		if err != nil {
			return err
		}
		defer st.Close()
		fmt.Fprintf(out, "bench search: %d cases in the database given; VACUUM ANALYZE\n", n)
		if err := analyze(ctx, reuse); err != nil {
			return err
		}
		return benchQueries(ctx, out, st, r, n, queries, statuses)
	}
	var dsn string
	var drop func(context.Context) error
	switch kind {
	case "postgres":
		var err error
		if dsn, drop, err = store.CreatePostgresDatabase(ctx, pg, fmt.Sprintf("flx_bench_%d_search", time.Now().UnixNano())); err != nil {
			return fmt.Errorf("bench: %w (is PostgreSQL running? --postgres)", err)
		}
	case "sqlite":
		dir, err := os.MkdirTemp("", "flx-bench-search-")
		if err != nil {
			return err
		}
		dsn, drop = "sqlite:"+filepath.Join(dir, "flx.db"), func(context.Context) error { return os.RemoveAll(dir) }
	default:
		return fmt.Errorf("bench search: --store %q: want postgres or sqlite", kind)
	}
	if keep {
		fmt.Fprintf(out, "bench search: keeping the database: --database '%s'\n", dsn)
	} else {
		defer drop(context.Background())
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(out, "bench search: filling %s with %d cases and their search keys...\n", kind, n)
	t0 := time.Now()
	const fill = 1000
	var keys atomic.Int64
	var filled atomic.Int64
	// Two writers: the database's work spreads over the cores.
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(3, uint64(w)))
			for i := w * fill; i < n; i += 2 * fill {
				if err := benchFillBatch(ctx, st, r, i, min(i+fill, n), statuses, &keys); err != nil {
					errc <- err
					return
				}
				if done := filled.Add(int64(min(i+fill, n) - i)); progress != nil && (done/fill)%50 == 0 {
					fmt.Fprintf(progress, "\r%d/%d cases (%.0f s)   ", done, n, time.Since(t0).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	fmt.Fprintf(out, "  filled in %.0f s: %d cases, %d keys (%.1f a case); ANALYZE\n", time.Since(t0).Seconds(), n, keys.Load(), float64(keys.Load())/float64(n))
	if err := analyze(ctx, dsn); err != nil {
		return err
	}
	return benchQueries(ctx, out, st, r, n, queries, statuses)
}

func benchFillBatch(ctx context.Context, st store.Store, r *rand.Rand, from, to int, statuses []string, keys *atomic.Int64) error {
	{
		var cs []store.NewCase
		for j := from; j < to; j++ {
			c := schema.Case{Schema: "flx/v1/case", CaseID: fmt.Sprintf("XA-RC:S-%07d", j), Version: 1, Type: "tracing_request",
				Status: schema.CaseStatus(statuses[r.IntN(len(statuses))]), Purpose: "tracing",
				Origin:  schema.Origin{Member: "XA-RC", CreatedAt: "2025-01-20T11:00:00Z"},
				Persons: []schema.Person{benchPerson(r)}}
			if r.IntN(10) == 0 {
				c.Notes = []schema.Note{{Text: "Seen near the " + benchWord(r, 2) + " crossing"}}
			}
			doc, _ := json.Marshal(c)
			k := search.Keys(&c)
			keys.Add(int64(len(k)))
			cs = append(cs, store.NewCase{ID: c.CaseID, Origin: "XA-RC", Type: string(c.Type), Status: string(c.Status), Document: doc, SearchKeys: k,
				At: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(j) * time.Second)})
		}
		_, err := st.CreateCases(ctx, cs)
		return err
	}
}

func benchQueries(ctx context.Context, out io.Writer, st store.Store, r *rand.Rand, n, queries int, statuses []string) error {
	now := time.Now()
	ip := func(v int) *int { return &v }
	kinds := []struct {
		name string
		q    func() benchQuery
	}{
		{"family name, other script or spelling", func() benchQuery {
			f := benchFamilies[r.IntN(len(benchFamilies))]
			return benchQuery{q: search.Query{Name: f[r.IntN(len(f))]}}
		}},
		{"given + family name (invented)", func() benchQuery {
			rr := rand.New(rand.NewPCG(uint64(r.IntN(n)), 9))
			return benchQuery{q: search.Query{Name: benchWord(rr, 2) + " " + benchWord(rr, 3) + "yan"}}
		}},
		{"family name + birth year", func() benchQuery {
			f := benchFamilies[r.IntN(len(benchFamilies))]
			return benchQuery{q: search.Query{Name: f[0], BornFrom: 1950 + r.IntN(40), BornTo: 2000}}
		}},
		{"age range + status", func() benchQuery {
			lo := 10 + r.IntN(50)
			return benchQuery{q: search.Query{AgeMin: ip(lo), AgeMax: ip(lo + 1)}, status: []string{statuses[r.IntN(len(statuses))]}}
		}},
		{"age range alone", func() benchQuery {
			lo := 10 + r.IntN(50)
			return benchQuery{q: search.Query{AgeMin: ip(lo), AgeMax: ip(lo + 1)}}
		}},
		{"birth-year range alone, rare (<1940)", func() benchQuery {
			lo := 1900 + r.IntN(30)
			return benchQuery{q: search.Query{BornFrom: lo, BornTo: lo + 10}}
		}},
		{"place + family name", func() benchQuery {
			f := benchFamilies[r.IntN(len(benchFamilies))]
			return benchQuery{q: search.Query{Name: f[r.IntN(len(f))], Place: benchPlaces[r.IntN(len(benchPlaces))]}}
		}},
		{"free-text word", func() benchQuery {
			return benchQuery{q: search.Query{Text: "crossing " + strings.ToLower(benchWord(r, 2))}}
		}},
	}
	var all []time.Duration
	fmt.Fprintf(out, "  %-40s %8s %8s %8s %8s\n", "search (page of 50, newest first)", "p50", "p95", "max", "hits")
	for _, k := range kinds {
		var ds []time.Duration
		hits := 0
		for range queries {
			cq := k.q()
			c, err := cq.q.Compile(now)
			if err != nil {
				return err
			}
			sq := store.CaseQuery{AllOf: c.Groups, Status: cq.status, Limit: 50}
			for _, rg := range c.Ranges {
				sq.Ranges = append(sq.Ranges, store.KeyRange{From: rg[0], To: rg[1]})
			}
			t := time.Now()
			p, err := st.SearchCases(ctx, sq)
			if err != nil {
				return err
			}
			ds = append(ds, time.Since(t))
			hits += len(p.Cases)
		}
		all = append(all, ds...)
		fmt.Fprintf(out, "  %-40s %8s %8s %8s %8.1f\n", k.name, ms(pctl(ds, 50)), ms(pctl(ds, 95)), ms(pctl(ds, 100)), float64(hits)/float64(queries))
	}
	var pk []time.Duration
	for range 200 {
		id := fmt.Sprintf("XA-RC:S-%07d", r.IntN(n))
		t := time.Now()
		if _, err := st.GetCase(ctx, id); err != nil {
			return err
		}
		pk = append(pk, time.Since(t))
	}
	p95 := pctl(all, 95)
	verdict := "within"
	if p95 > 100*time.Millisecond {
		verdict = "OVER"
	}
	fmt.Fprintf(out, "  all searches: p95 %s (%s the 100 ms target); read one case by id: p95 %s; ratio %.1f\n",
		ms(p95), verdict, ms(pctl(pk, 95)), float64(p95)/float64(max(pctl(pk, 95), 1)))
	return nil
}

// benchQuery is one generated search.
type benchQuery struct {
	q      search.Query
	status []string
}

func pctl(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// analyze refreshes PostgreSQL's statistics after the bulk fill.
func analyze(ctx context.Context, dsn string) error {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	return store.Analyze(ctx, st)
}
