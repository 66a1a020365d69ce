package proto

// DeviceStatus is a device's retained presence on DeviceStatusTopic: State
// "online" when it connects, "offline" when it closes; its Last Will is
// {"v":1,"state":"offline"} (no TS: a will is written at connect time).
type DeviceStatus struct {
	V     int    `json:"v"`
	State string `json:"state"`        // StateOnline or StateOffline
	TS    string `json:"ts,omitempty"` // RFC 3339, UTC
	// App is the device's app and version (device.Config.AppVersion),
	// shown in the console's device list; optional.
	App string `json:"app,omitempty"`
}

// The states of DeviceStatus.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)
