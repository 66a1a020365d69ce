package proto

// ServiceAccounts is the store's account registry: staff accounts and
// devices (enrolment with a pairing code). Admins only.
const ServiceAccounts = "accounts"

// The kinds of an account.
const (
	KindDevice = "device"
	KindStaff  = "staff"
)

// EnrollPath is the HTTP endpoint (POST) where a device redeems its pairing
// code for its credentials.
const EnrollPath = "/enroll"

// StaffAddRequest adds a staff account (svc/accounts/staff_add).
type StaffAddRequest struct {
	Account  string `json:"account"`  // the login name
	Name     string `json:"name"`     // shown in the console
	Role     string `json:"role"`     // one of the staff roles
	Password string `json:"password"` // at least accounts.min_password_length characters
}

// AccountRequest names one account (staff_disable, staff_enable,
// device_rotate, device_revoke).
type AccountRequest struct {
	Account string `json:"account"`
}

// PasswordRequest sets a staff account's password (staff_reset_password).
type PasswordRequest struct {
	Account  string `json:"account"`
	Password string `json:"password"`
}

// DeviceAddRequest adds a device waiting for its enrolment (device_add).
type DeviceAddRequest struct {
	Role string `json:"role"`           // kiosk, chat-tablet, camera, ...
	Name string `json:"name"`           // shown in the console
	Room string `json:"room,omitempty"` // the room a camera films
}

// DeviceUpdateRequest renames a device or moves it to another room
// (device_update); an absent field is left as it is.
type DeviceUpdateRequest struct {
	Account string  `json:"account"`
	Name    *string `json:"name,omitempty"`
	Room    *string `json:"room,omitempty"`
}

// AccountInfo is one account in a list; never any credential.
type AccountInfo struct {
	ID          string `json:"account"`
	Kind        string `json:"kind"`
	Role        string `json:"role"`
	Name        string `json:"name,omitempty"`
	Room        string `json:"room,omitempty"`
	CertCN      string `json:"cert_cn,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
	Revoked     bool   `json:"revoked,omitempty"`
	Pending     bool   `json:"pending,omitempty"`      // added, not enrolled yet
	CodeExpires string `json:"code_expires,omitempty"` // RFC 3339, while a pairing code is open
	FromFile    bool   `json:"from_file,omitempty"`    // managed by auth.devices_file
	Online      bool   `json:"online"`
	Created     string `json:"created"`
	Updated     string `json:"updated"`
	LastSeen    string `json:"last_seen,omitempty"`
	Address     string `json:"address,omitempty"`
	AppVersion  string `json:"app_version,omitempty"`
}

// AccountList answers staff_list and device_list.
type AccountList struct {
	Accounts []AccountInfo `json:"accounts"`
}

// Pairing answers device_add and device_rotate: the code a device enrols
// with, once, before Expires.
type Pairing struct {
	Account AccountInfo `json:"device"`
	Code    string      `json:"code"`
	Expires string      `json:"expires"` // RFC 3339
	// QR is {"enroll":"<url>","code":"<code>"}, as JSON text, and QRPNG
	// that text as a PNG QR code, base64.
	QR    string `json:"qr"`
	QRPNG string `json:"qr_png"`
}

// EnrollRequest is the body of POST /enroll.
type EnrollRequest struct {
	Code string `json:"code"`
}

// EnrollAnswer is the answer of POST /enroll: the device's own credentials.
// The password is shown this once; the store keeps only its hash.
type EnrollAnswer struct {
	ID       string `json:"id"`
	Password string `json:"password"`
	Role     string `json:"role"`
	Name     string `json:"name,omitempty"`
	Room     string `json:"room,omitempty"`
	// MQTT is the broker's MQTT address as the box sees it (host:port), ""
	// when unknown; WebSocket likewise.
	MQTT      string `json:"mqtt,omitempty"`
	WebSocket string `json:"websocket,omitempty"`
}
