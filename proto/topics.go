package proto

// Service names: the {service} of svc/{service}/{op}.
const (
	ServiceChat    = "chat"
	ServiceBooking = "booking"
	ServiceMedia   = "media"
	ServiceCamera  = "camera"
	ServiceStore   = "store" // the store's own ops (health)
	// ServiceCustomer: customer cards, logins, merges and "forget me".
	ServiceCustomer = "customer"
)

// Topics and topic filters.
const (
	// RequestFilter is every request: svc/{service}/{op}.
	RequestFilter = "svc/#"
	// BookingStaffTopic carries every booking change (staff).
	BookingStaffTopic = "booking/events"
	// DeviceStatusFilter is every device's retained online/offline status.
	DeviceStatusFilter = "devices/+/status"
	// HQ topics: what HQ sends to the store (cloudsync delivers them).
	HQChatMessageTopic    = "hq/chat/message"
	HQChatReadTopic       = "hq/chat/read"
	HQBookingRequestTopic = "hq/booking/request"
	HQBookingCancelTopic  = "hq/booking/cancel"
)

// RequestTopic is where a request for op of service is published.
func RequestTopic(service, op string) string { return "svc/" + service + "/" + op }

// ReplyFilter is every answer to client: reply/{client}/#.
func ReplyFilter(client string) string { return "reply/" + client + "/#" }

// ReplyTopic is one of client's answer topics: reply/{client}/{suffix}.
func ReplyTopic(client, suffix string) string { return "reply/" + client + "/" + suffix }

// ChatEventTopic carries the events of a conversation ("+" for all).
func ChatEventTopic(conversation string) string { return "chat/" + conversation + "/events" }

// BookingCustomerTopic carries the changes of one customer's bookings.
func BookingCustomerTopic(customer string) string { return "booking/customer/" + customer + "/events" }

// SignalTopic is the signaling topic of a camera session ("+" for all).
func SignalTopic(camera, session string) string { return "camera/" + camera + "/signal/" + session }

// DeviceStatusTopic is a device's retained online/offline status.
func DeviceStatusTopic(device string) string { return "devices/" + device + "/status" }

// DeviceTelemetryTopic is a device's telemetry.
func DeviceTelemetryTopic(device string) string { return "devices/" + device + "/telemetry" }
