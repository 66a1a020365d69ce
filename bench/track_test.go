package main

import "testing"

func TestPayloadRoundTrip(t *testing.T) {
	b := newPayload()
	if len(b) != payloadSize {
		t.Fatalf("payload %d bytes, want %d", len(b), payloadSize)
	}
	stamp(b, 42, 1<<40+7, 123456789)
	pub, seq, ns, ok := parsePayload(b)
	if !ok || pub != 42 || seq != 1<<40+7 || ns != 123456789 {
		t.Errorf("parsePayload = %d %d %d %v", pub, seq, ns, ok)
	}
	if _, _, _, ok := parsePayload([]byte("hello")); ok {
		t.Error("short payload accepted")
	}
	other := make([]byte, payloadSize)
	if _, _, _, ok := parsePayload(other); ok {
		t.Error("payload without magic accepted")
	}
}

func TestBitset(t *testing.T) {
	var b bitset
	for _, i := range []uint64{0, 63, 64, 1000, 100000} {
		if b.has(i) {
			t.Errorf("has(%d) before set", i)
		}
		if b.set(i) {
			t.Errorf("set(%d) reported present", i)
		}
		if !b.has(i) || !b.set(i) {
			t.Errorf("bit %d not kept", i)
		}
	}
	if b.has(1) || b.has(99999) || b.has(1<<40) {
		t.Error("unset bits reported present")
	}
}

func TestSeqTrack(t *testing.T) {
	var tr seqTrack
	// 0 1 2 4 3 (3 late) 4 (dup) 6 ; 5 never arrives
	for _, s := range []uint64{0, 1, 2, 4, 3} {
		if tr.add(s) {
			t.Errorf("add(%d) reported duplicate", s)
		}
	}
	if !tr.add(4) {
		t.Error("second 4 not reported as duplicate")
	}
	tr.add(6)
	if tr.received != 6 || tr.dup != 1 || tr.ooo != 1 {
		t.Errorf("received %d dup %d ooo %d, want 6 1 1", tr.received, tr.dup, tr.ooo)
	}
	if got := tr.lost(7, nil); got != 1 {
		t.Errorf("lost(7) = %d, want 1 (seq 5)", got)
	}
	if got := tr.lost(9, nil); got != 3 {
		t.Errorf("lost(9) = %d, want 3 (5, 7, 8)", got)
	}
	// QoS 1: only acknowledged messages can be lost.
	var acked bitset
	for _, s := range []uint64{0, 1, 2, 3, 4, 6, 7} {
		acked.set(s)
	}
	if got := tr.lost(9, &acked); got != 1 {
		t.Errorf("lost(9, acked) = %d, want 1 (7; 5 and 8 never acked)", got)
	}
}

func TestMeasureWindow(t *testing.T) {
	w := measureWindow{t0: 10, t1: 20}
	if w.in(9) || !w.in(10) || !w.in(19) || w.in(20) {
		t.Error("window bounds wrong: want [t0, t1)")
	}
}

func TestSeqTrackSplit(t *testing.T) {
	var tr seqTrack
	for _, s := range []uint64{0, 1, 3, 5} {
		tr.add(s)
	}
	// 0..7: seen 0 1 3 5; 2 and 4 skipped (5 came later); 6 and 7 after.
	if got, skipped, after := tr.split(8, nil); got != 4 || skipped != 2 || after != 2 {
		t.Errorf("split(8) = %d %d %d, want 4 2 2", got, skipped, after)
	}
	// Only acknowledged ones count: 2 and 7 were never acknowledged.
	var acked bitset
	for _, s := range []uint64{0, 1, 3, 4, 5, 6} {
		acked.set(s)
	}
	if got, skipped, after := tr.split(8, &acked); got != 4 || skipped != 1 || after != 1 {
		t.Errorf("split(8, acked) = %d %d %d, want 4 1 1", got, skipped, after)
	}
	// Up to the cut only.
	if got, skipped, after := tr.split(3, nil); got != 2 || skipped != 1 || after != 0 {
		t.Errorf("split(3) = %d %d %d, want 2 1 0", got, skipped, after)
	}
}
