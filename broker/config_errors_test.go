package broker

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// goWords are what a store owner must never have to read in a message
// about a file they edited: names of the program's types.
var goWords = []string{"type ", "catServiceConf", "time.Duration", "int64", "float64", "struct", "Conf ", "!!", "unmarshal", "[]"}

// lineOf is the 1-based line of the first line of src holding s.
func lineOf(t *testing.T, src, s string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the file", s)
	return 0
}

// Every YAML file the broker reads, broken the ways people break them:
// the message names the file, the line, the key and what is wanted there,
// and nothing of the program's insides.
func TestConfigErrorsInPeoplesWords(t *testing.T) {
	services := string(configs.Services)
	faqYAML := string(configs.FAQ)
	store := func(y string) error {
		p := filepath.Join(t.TempDir(), "store.yaml")
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(p)
		return err
	}
	srv := mqtttest.NewServer(mqtttest.Options{})
	authFiles := func(devices, acl string) error {
		if acl == "" {
			acl = string(configs.ACL)
		}
		_, err := auth.NewHook(auth.Options{Server: srv, Devices: []byte(devices), ACL: []byte(acl)})
		return err
	}
	catalog := func(y string) error {
		a, err := faq.Load(configs.FAQ)
		if err != nil {
			t.Fatal(err)
		}
		_, err = booking.LoadCatalog([]byte(y), a.Hours())
		return err
	}
	faqLoad := func(y string) error { _, err := faq.Load([]byte(y)); return err }
	cloud := func(y string) error { _, err := topicmap.Parse([]byte(y)); return err }

	typo := strings.Replace(services, "duration:", "duraton:", 1)
	lots := strings.Replace(services, "price: ", "price: lots #", 1)
	faqTypo := strings.Replace(faqYAML, "default_lang:", "defualt_lang:", 1)
	faqHigh := strings.Replace(faqYAML, "threshold: 0.5", "threshold: high", 1)

	for _, tc := range []struct {
		name string
		err  error
		want []string // in the message, in order of appearance not required
	}{
		{"store.yaml unknown key", store("store_id: s1\nbooking:\n  tik: 5s\n"),
			[]string{"store.yaml line 3: booking.tik: unknown key (did you mean tick?)"}},
		{"store.yaml duration", store("store_id: s1\nbooking:\n  tick: soon\n"),
			[]string{"store.yaml line 3: booking.tick: want a duration such as 45m", `not "soon"`}},
		{"store.yaml whole number", store("booking:\n  max_profiles: lots\n"),
			[]string{"store.yaml line 2: booking.max_profiles: want a whole number", `not "lots"`}},
		{"store.yaml list for a word", store("log:\n  level: [debug]\n"),
			[]string{"store.yaml line 2: log.level: want a single word or text", "not a list"}},
		{"store.yaml tab", store("log:\n\tlevel: debug\n"),
			[]string{"store.yaml line 2: not valid YAML", "spaces, not tabs"}},
		{"store.yaml key twice", store("log:\n  level: debug\n  level: info\n"),
			[]string{"store.yaml line 3: log.level: ", "twice"}},

		{"services.yaml unknown key", catalog(typo),
			[]string{"services.yaml line " + itoa(lineOf(t, typo, "duraton:")) + ": services[0].duraton: unknown key (did you mean duration?)"}},
		{"services.yaml whole number", catalog(lots),
			[]string{"services.yaml line " + itoa(lineOf(t, lots, "price: lots")) + ": services[0].price: want a whole number", `not "lots`}},

		{"store.yaml no admin role", store("store_id: s1\nbooking:\n  admin_roles: []\n"),
			[]string{"admin_roles set (who edits the catalogue, hours and closures)"}},
		{"store.yaml closures bound", store("store_id: s1\nbooking:\n  max_closures: 0\n"),
			[]string{"max_closures between 1 and 1000"}},
		{"store.yaml label without a Chinese name", store("store_id: s1\nchat:\n  labels:\n    - {id: vip, en: VIP}\n"),
			[]string{`chat.labels[0] "vip": each label has a unique id and en and zh names`}},
		{"store.yaml label twice", store("store_id: s1\nchat:\n  labels:\n    - {id: vip, en: VIP, zh: 贵宾}\n    - {id: vip, en: V, zh: 贵}\n"),
			[]string{`chat.labels[1] "vip": each label has a unique id`}},
		{"store.yaml search budget", store("store_id: s1\nchat:\n  search_budget: 10ms\n"),
			[]string{"chat: search_budget from 100ms to 1m (it is 10ms)"}},
		{"faq.yaml unknown key", faqLoad(faqTypo),
			[]string{"faq.yaml line " + itoa(lineOf(t, faqTypo, "defualt_lang:")) + ": defualt_lang: unknown key (did you mean default_lang?)"}},
		{"faq.yaml number", faqLoad(faqHigh),
			[]string{"faq.yaml line " + itoa(lineOf(t, faqHigh, "threshold: high")) + ": match.threshold: want a number", `not "high"`}},

		{"acl.yaml unknown key", authFiles("devices: []\n", "roles:\n  kiosk:\n    publsh: [a/b]\n"),
			[]string{"acl.yaml line 3: roles.kiosk.publsh: unknown key (did you mean publish?)"}},
		{"devices.yaml unknown key", authFiles("devices:\n  - id: k1\n    role: kiosk\n    pasword_hash: x\n", ""),
			[]string{"devices.yaml line 4: devices[0].pasword_hash: unknown key (did you mean password_hash?)"}},
		{"devices.yaml section for a word", authFiles("devices:\n  - id: k1\n    role: {name: kiosk}\n", ""),
			[]string{"devices.yaml line 3: devices[0].role: want a single word or text", "not a section of keys"}},

		{"cloud.yaml unknown key", cloud("map:\n  - lokal: a/#\n    cloud: b/#\n"),
			[]string{"cloud.yaml line 2: map[0].lokal: unknown key (did you mean local?)"}},
		{"cloud.yaml whole number", cloud("map:\n  - local: a/#\n    cloud: b/#\n    qos: high\n"),
			[]string{"cloud.yaml line 4: map[0].qos: want a whole number", `not "high"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("accepted")
			}
			msg := tc.err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message\n%s\nlacks %q", msg, w)
				}
			}
			for _, w := range goWords {
				if strings.Contains(msg, w) {
					t.Errorf("message\n%s\nnames the program's insides: %q", msg, w)
				}
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
