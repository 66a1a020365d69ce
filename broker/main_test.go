package broker_test

import (
	"os"
	"testing"

	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestMain lets a test run the broker as a child process
// (storetest.Options.Process).
func TestMain(m *testing.M) {
	storetest.Main()
	os.Exit(m.Run())
}
