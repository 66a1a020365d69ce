package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// runRecord is one broker's result for one rep of one scenario.
type runRecord struct {
	Scenario string             `json:"scenario"`
	Broker   string             `json:"broker"`
	Kind     string             `json:"kind"`
	Rep      int                `json:"rep"`
	Load     *loadResult        `json:"load,omitempty"`
	Memory   *memResult         `json:"memory,omitempty"`
	Startup  *startupResult     `json:"startup,omitempty"`
	ChatSend *chatSendResult    `json:"chat_send,omitempty"`
	History  *chatHistoryResult `json:"chat_history,omitempty"`
	Camera   *cameraResult      `json:"camera,omitempty"`
	Stall    *stallResult       `json:"stalled_subscriber,omitempty"`
	// Metrics is storeedge's /metrics at the end of the run.
	Metrics map[string]float64 `json:"broker_metrics,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// sideSummary aggregates one broker's reps of one scenario: medians for
// rates, latencies, CPU and memory; sums for loss counters.
type sideSummary struct {
	Broker     string  `json:"broker"`
	Runs       int     `json:"runs"`
	Failed     int     `json:"failed"`
	Rate       float64 `json:"rate_msgs_per_s,omitempty"`
	P50Ms      float64 `json:"p50_ms,omitempty"`
	P99Ms      float64 `json:"p99_ms,omitempty"`
	CPUPer100k float64 `json:"broker_cpu_s_per_100k,omitempty"`
	Lost       int64   `json:"lost"`
	Delivered  int64   `json:"delivered"` // distinct deliveries: Lost of Delivered + Lost were lost
	Dup        int64   `json:"duplicates"`
	OutOfOrder int64   `json:"out_of_order"`
	Errors     int64   `json:"errors"`
	Nacked     int64   `json:"refused"` // PUBACK reason >= 0x80
	Undrained  int     `json:"runs_not_drained"`

	RSSIdleMB float64 `json:"rss_idle_mb,omitempty"`
	RSSLoadMB float64 `json:"rss_clients_mb,omitempty"`

	ConnackMs   float64 `json:"exec_to_connack_ms,omitempty"`
	RSSAfterMB  float64 `json:"rss_after_start_mb,omitempty"`
	RecoveredLo int64   `json:"recovered_min,omitempty"`
	Expected    int     `json:"recovered_expected,omitempty"`
	StopSignal  string  `json:"stop_signal,omitempty"`

	// chat-history (chat-send uses Rate, P50Ms, P99Ms, CPUPer100k, Errors).
	HistoryMsgs int     `json:"history_messages,omitempty"`
	SyncMs      float64 `json:"history_sync_ms,omitempty"`
	SyncRate    float64 `json:"history_msgs_per_s,omitempty"`

	// camera (Errors counts its sessions without a picture).
	Camera *cameraSummary `json:"camera,omitempty"`

	// stalled-subscriber, pass by pass (Errors, Nacked and Undrained sum
	// the passes).
	Stall []stallPassSummary `json:"stalled_subscriber,omitempty"`
}

// scenarioSummary is one report line.
type scenarioSummary struct {
	Scenario string `json:"scenario"`
	kind     scenarioKind
	Sides    [2]sideSummary `json:"brokers"`
	Ratio    float64        `json:"ratio"` // first/second: rate, RSS with clients, start-up time, or stalled-subscriber's healthy rate in pass clean
}

func summarize(sc scenario, sides [2]side, recs []runRecord) scenarioSummary {
	out := scenarioSummary{Scenario: sc.name, kind: sc.kind}
	for i, sd := range sides {
		s := sideSummary{Broker: sd.name}
		var rate, p50, p99, cpu, idle, load, connack, rssAfter, syncMs, syncRate []float64
		var cams []*cameraResult
		var stalls []*stallResult
		s.RecoveredLo = math.MaxInt64
		for _, r := range recs {
			if r.Scenario != sc.name || r.Broker != sd.name {
				continue
			}
			s.Runs++
			if c := r.ChatSend; c != nil {
				// Counted also for failed runs: errors are why they failed.
				s.Errors += c.errorCount()
			}
			if h := r.History; h != nil {
				s.Errors += h.Seed.errorCount()
			}
			if c := r.Camera; c != nil {
				s.Errors += int64(c.failedSessions())
			}
			if r.Error != "" {
				s.Failed++
				continue
			}
			if st := r.Stall; st != nil {
				stalls = append(stalls, st)
				s.Lost = -1 // per pass, in Stall
				for _, p := range st.Passes {
					s.Errors += p.Errors + p.Foreign
					s.Nacked += p.Nacked
					if !p.Drained {
						s.Undrained++
					}
				}
			}
			if c := r.ChatSend; c != nil {
				rate = append(rate, c.Rate)
				p50 = append(p50, c.P50Ms)
				p99 = append(p99, c.P99Ms)
				cpu = append(cpu, c.CPUPer100k)
				s.Lost = -1 // not applicable
				if !c.Drained {
					s.Undrained++
				}
			}
			if h := r.History; h != nil {
				syncMs = append(syncMs, h.SyncMs)
				syncRate = append(syncRate, h.Rate)
				p50 = append(p50, h.PageP50Ms)
				p99 = append(p99, h.PageP99Ms)
				s.HistoryMsgs = h.Messages
				s.Lost = -1
			}
			if l := r.Load; l != nil {
				rate = append(rate, l.Rate)
				p50 = append(p50, l.P50Ms)
				p99 = append(p99, l.P99Ms)
				cpu = append(cpu, l.CPUPer100k)
				s.Lost += max(l.Lost, 0)
				s.Delivered += l.Delivered
				s.Dup += l.Dup
				s.OutOfOrder += l.OutOfOrder
				s.Errors += l.Errors + l.Foreign
				s.Nacked += l.Nacked
				if !l.Drained {
					s.Undrained++
				}
				if l.Lost < 0 {
					s.Lost = -1
				}
			}
			if c := r.Camera; c != nil {
				cams = append(cams, c)
				s.Lost = -1
			}
			if m := r.Memory; m != nil {
				idle = append(idle, m.RSSIdleMB)
				load = append(load, m.RSSLoadMB)
			}
			if st := r.Startup; st != nil {
				connack = append(connack, st.ConnackMs)
				rssAfter = append(rssAfter, st.RSSAfterMB)
				s.RecoveredLo = min(s.RecoveredLo, st.Recovered)
				s.Expected = st.Messages
				s.StopSignal = st.StopSignal
			}
		}
		if s.RecoveredLo == math.MaxInt64 {
			s.RecoveredLo = 0
		}
		s.Rate, s.P50Ms, s.P99Ms, s.CPUPer100k = median(rate), median(p50), median(p99), median(cpu)
		s.RSSIdleMB, s.RSSLoadMB = median(idle), median(load)
		s.ConnackMs, s.RSSAfterMB = median(connack), median(rssAfter)
		s.SyncMs, s.SyncRate = median(syncMs), median(syncRate)
		if sc.kind == kindCamera && sd.kind == kindStoreedge {
			s.Camera = summarizeCamera(cams)
		}
		if sc.kind == kindStall {
			s.Stall = summarizeStall(stalls)
		}
		out.Sides[i] = s
	}
	a, b := out.Sides[0], out.Sides[1]
	switch sc.kind {
	case kindLoad:
		out.Ratio = ratio(a.Rate, b.Rate)
	case kindMemory:
		out.Ratio = ratio(a.RSSLoadMB, b.RSSLoadMB)
	case kindStartup:
		out.Ratio = ratio(a.ConnackMs, b.ConnackMs)
	case kindStall:
		out.Ratio = ratio(stallHealthyRate(a.Stall, "clean"), stallHealthyRate(b.Stall, "clean"))
	default:
		out.Ratio = math.NaN() // storeedge only: no peer
	}
	return out
}

// printReport writes the human-readable tables.
func printReport(w io.Writer, hdr string, sides [2]side, sums []scenarioSummary, recs []runRecord, opt options) {
	fmt.Fprintln(w, hdr)
	A, B := sides[0].name, sides[1].name
	var load, stall, mem, start, chat, cam []scenarioSummary
	for _, s := range sums {
		switch s.kind {
		case kindMemory:
			mem = append(mem, s)
		case kindStartup:
			start = append(start, s)
		case kindChatSend, kindChatHistory:
			chat = append(chat, s)
		case kindCamera:
			cam = append(cam, s)
		case kindStall:
			stall = append(stall, s)
		default:
			load = append(load, s)
		}
	}
	if len(load) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "scenario\t%s msg/s\t%s msg/s\tratio\t%s p50/p99 ms\t%s p50/p99 ms\t%s lost/dup/ooo\t%s lost/dup/ooo\t%s cpu-s/100k\t%s cpu-s/100k\n",
			A, B, A, B, A, B, A, B)
		for _, s := range load {
			a, b := s.Sides[0], s.Sides[1]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Scenario,
				num(a.Rate, 0), num(b.Rate, 0), num(s.Ratio, 2),
				pair(a.P50Ms, a.P99Ms), pair(b.P50Ms, b.P99Ms),
				loss(a), loss(b), num(a.CPUPer100k, 3), num(b.CPUPer100k, 3))
		}
		tw.Flush()
		printLoss(w, load)
	}
	for _, s := range stall {
		printStall(w, s, opt)
	}
	for _, s := range mem {
		fmt.Fprintf(w, "\nmemory: VmRSS with %d idle clients (keepalive 60 s) vs idle with none\n", opt.idleClients)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "broker\tidle MB\twith clients MB\tper client KB\n")
		for _, x := range s.Sides {
			per := math.NaN()
			if opt.idleClients > 0 {
				per = (x.RSSLoadMB - x.RSSIdleMB) * 1024 / float64(opt.idleClients)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s\n", x.Broker, num(x.RSSIdleMB, 1), num(x.RSSLoadMB, 1), num(per, 1), failed(x))
		}
		tw.Flush()
		fmt.Fprintf(w, "ratio (%s/%s, with clients): %s\n", A, B, num(s.Ratio, 2))
	}
	for _, s := range start {
		fmt.Fprintf(w, "\nstartup: %d QoS 1 messages queued for %d offline persistent sessions (%d deliveries), broker stopped, restarted\n",
			opt.startupMsgs, startupSubs, opt.startupMsgs*startupSubs)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "broker\tstopped with\texec->CONNACK ms\tRSS after start MB\trecovered by one session\n")
		for _, x := range s.Sides {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d%s\n", x.Broker, x.StopSignal, num(x.ConnackMs, 1), num(x.RSSAfterMB, 1),
				x.RecoveredLo, x.Expected, failed(x))
		}
		tw.Flush()
	}

	if len(chat) > 0 {
		printChat(w, sides, chat, opt)
	}
	for _, s := range cam {
		if x := s.Sides[0]; sides[0].kind == kindStoreedge && x.Camera != nil {
			printCamera(w, x, opt)
		}
	}

	// Notes: anything that makes a number less trustworthy.
	var notes []string
	for _, s := range sums {
		for _, x := range s.Sides {
			if x.Failed > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d of %d runs failed (medians use the rest)", s.Scenario, x.Broker, x.Failed, x.Runs))
			}
			if x.Undrained > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d runs did not drain within -drain", s.Scenario, x.Broker, x.Undrained))
			}
			if x.Nacked > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d QoS 1 publishes refused (PUBACK reason >= 0x80)", s.Scenario, x.Broker, x.Nacked))
			}
			if x.Errors > 0 && s.kind == kindCamera {
				notes = append(notes, fmt.Sprintf("%s %s: %d watch sessions got no picture (see the JSON)", s.Scenario, x.Broker, x.Errors))
			} else if x.Errors > 0 && (s.kind == kindChatSend || s.kind == kindChatHistory) {
				notes = append(notes, fmt.Sprintf("%s %s: %d chat errors (error answers, unanswered sends, seq gaps; see the JSON)", s.Scenario, x.Broker, x.Errors))
			} else if x.Errors > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d publish errors or foreign messages", s.Scenario, x.Broker, x.Errors))
			}
		}
	}
	busy, worst := 0, 0.0
	for _, r := range recs {
		var cores []float64 // other processes' CPU / window, per window
		switch {
		case r.Load != nil:
			cores = append(cores, r.Load.OtherCPU/opt.duration.Seconds())
		case r.ChatSend != nil:
			cores = append(cores, r.ChatSend.OtherCPU/opt.duration.Seconds())
		case r.Camera != nil:
			for _, w := range []*relayWindow{r.Camera.One, r.Camera.Many} {
				if w != nil && w.Seconds > 0 {
					cores = append(cores, w.OtherCPU/w.Seconds)
				}
			}
		case r.Stall != nil:
			for _, p := range r.Stall.Passes {
				if p.WindowS > 0 {
					cores = append(cores, p.OtherCPU/p.WindowS)
				}
			}
		}
		if len(cores) > 0 && slices.Max(cores) > 0.25 {
			busy++
			worst = max(worst, slices.Max(cores))
		}
	}
	if busy > 0 {
		notes = append(notes, fmt.Sprintf("machine busy: in %d runs other processes used over 0.25 cores during the window (up to %.2f); rerun on a quiet machine if the ratios look odd", busy, worst))
	}
	for _, r := range recs {
		if r.Error != "" {
			notes = append(notes, fmt.Sprintf("%s %s rep %d: %s", r.Scenario, r.Broker, r.Rep, firstLine(r.Error)))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

// printLoss writes, under the throughput table, every scenario's lost
// deliveries on both sides out of those due (sums over reps), so that a
// loss is seen beside the other broker's, with its share.
func printLoss(w io.Writer, load []scenarioSummary) {
	var lines []string
	for _, s := range load {
		var parts []string
		for _, x := range s.Sides {
			if x.Lost < 0 || x.Runs == x.Failed {
				continue
			}
			due := x.Delivered + x.Lost
			share := "-"
			if due > 0 {
				share = fmt.Sprintf("%.3g %%", float64(x.Lost)/float64(due)*100)
			}
			parts = append(parts, fmt.Sprintf("%s %d of %d (%s)", x.Broker, x.Lost, due, share))
		}
		if len(parts) > 0 {
			lines = append(lines, fmt.Sprintf("  %s: %s", s.Scenario, strings.Join(parts, ", ")))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "lost deliveries, sums over reps (QoS 0: written to the socket and not delivered; QoS 1: acknowledged and not delivered):")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// printChat writes the chat scenarios: storeedge only, absolute figures
// against DESIGN.md §7.
func printChat(w io.Writer, sides [2]side, chat []scenarioSummary, opt options) {
	fmt.Fprintf(w, "\nchat service: storeedge only (mosquitto has no equivalent), absolute figures against DESIGN.md §7;\n")
	fmt.Fprintf(w, "%d senders, %d conversations, %d requests in flight each, %d-byte texts; answers come after the commit (fsync)\n",
		chatSenders, opt.chatConvs, opt.chatWindow, chatTextBytes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tbroker\trate\tp50/p99 ms\ttime\tbroker cpu s/100k\ttarget\tresult\terrors\n")
	for _, s := range chat {
		// Every storeedge side: with -against, the binary before a change
		// is the second.
		for i, sd := range sides {
			if sd.kind != kindStoreedge || i >= len(s.Sides) {
				continue
			}
			x := s.Sides[i]
			switch s.kind {
			case kindChatSend:
				fmt.Fprintf(tw, "%s\t%s\t%s sends/s\t%s\t-\t%s\t>= %d sends/s, p99 <= %d ms\t%s\t%d%s\n", s.Scenario, x.Broker,
					num(x.Rate, 0), pair(x.P50Ms, x.P99Ms), num(x.CPUPer100k, 1), chatTargetRate, chatTargetP99Ms, chatVerdict(x.Rate, x.P99Ms), x.Errors, failed(x))
			case kindChatHistory:
				fmt.Fprintf(tw, "%s\t%s\t%s msgs/s\t%s (page)\t%s ms for %d msgs\t-\t-\t-\t%d%s\n", s.Scenario, x.Broker,
					num(x.SyncRate, 0), pair(x.P50Ms, x.P99Ms), num(x.SyncMs, 1), x.HistoryMsgs, x.Errors, failed(x))
			}
		}
	}
	tw.Flush()
	if opt.rate > 0 {
		fmt.Fprintf(w, "chat-send paced at %.0f sends/s: the rate is a ceiling; compare latency with the target\n", opt.rate)
	} else {
		fmt.Fprintf(w, "chat-send unpaced: latency is mostly queueing (%d requests in flight / rate); check p99 at the target with -rate %d\n",
			chatSenders*opt.chatWindow, chatTargetRate)
	}
}

func num(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

func pair(a, b float64) string {
	if math.IsNaN(a) {
		return "-"
	}
	return num(a, 2) + "/" + num(b, 2)
}

func loss(s sideSummary) string {
	if s.Lost < 0 {
		return "-" + failed(s)
	}
	if s.Runs == s.Failed {
		return "-" + failed(s)
	}
	return fmt.Sprintf("%d/%d/%d%s", s.Lost, s.Dup, s.OutOfOrder, failed(s))
}

func failed(s sideSummary) string {
	if s.Failed > 0 {
		return fmt.Sprintf(" (%d failed)", s.Failed)
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// jsonReport is what -json writes.
type jsonReport struct {
	Settings map[string]any    `json:"settings"`
	Summary  []scenarioSummary `json:"summary"`
	Runs     []runRecord       `json:"runs"`
}

// nanSafe replaces NaN with 0 so the JSON encoder accepts the summary.
func nanSafe(sums []scenarioSummary) []scenarioSummary {
	fix := func(x *float64) {
		if math.IsNaN(*x) || math.IsInf(*x, 0) {
			*x = 0
		}
	}
	out := make([]scenarioSummary, len(sums))
	for i, s := range sums {
		fix(&s.Ratio)
		for j := range s.Sides {
			x := &s.Sides[j]
			for _, f := range []*float64{&x.Rate, &x.P50Ms, &x.P99Ms, &x.CPUPer100k, &x.RSSIdleMB, &x.RSSLoadMB, &x.ConnackMs, &x.RSSAfterMB, &x.SyncMs, &x.SyncRate} {
				fix(f)
			}
			if x.Camera != nil {
				c := *x.Camera
				for _, f := range c.floats() {
					fix(f)
				}
				x.Camera = &c
			}
			x.Stall = fixStallFloats(x.Stall, fix)
		}
		out[i] = s
	}
	return out
}

func writeJSON(path string, rep jsonReport) error {
	rep.Summary = nanSafe(rep.Summary)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
