package main

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// comm with spaces and a ')' must not shift the fields.
	line := []byte("1234 (my (weird) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 100 1000 200 18446744073709551615\n")
	got, err := parseStatCPU(line)
	if err != nil || got != 325 {
		t.Errorf("parseStatCPU = %d, %v; want 325", got, err)
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestParseVmRSS(t *testing.T) {
	st := []byte("Name:\tmosquitto\nVmPeak:\t  20000 kB\nVmRSS:\t    8192 kB\nThreads:\t1\n")
	got, err := parseVmRSS(st)
	if err != nil || got != 8192*1024 {
		t.Errorf("parseVmRSS = %d, %v", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tzombie\n")); err == nil {
		t.Error("missing VmRSS accepted")
	}
}

func TestParseProcStatBusy(t *testing.T) {
	b := []byte("cpu  100 5 50 1000 7 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
	got, err := parseProcStatBusy(b)
	if err != nil || got != 100+5+50+3+2+1 {
		t.Errorf("parseProcStatBusy = %d, %v; want 161", got, err)
	}
}

func TestOwnProcess(t *testing.T) {
	if _, err := procCPUSeconds(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := procRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("procRSS = %d, %v", rss, err)
	}
	if _, err := systemBusySeconds(); err != nil {
		t.Fatal(err)
	}
}
