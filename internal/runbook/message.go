package runbook

import "time"

// Tone colours a message the way each platform can (a Slack attachment
// colour, a CSS class).
type Tone string

// Message tones.
const (
	ToneInfo     Tone = "info"
	ToneWaiting  Tone = "waiting"
	ToneProgress Tone = "progress"
	ToneSuccess  Tone = "success"
	ToneFailure  Tone = "failure"
)

// Message is the platform-neutral content of a run's chat message. Each chat
// adapter renders it for its platform and edits it in place as the run moves.
type Message struct {
	RunID uint64 `json:"run_id,omitempty"`
	// App, Env and Version say what the run is about, for adapters that
	// route or summarise by them (an announce channel for production).
	App     string `json:"app,omitempty"`
	Env     string `json:"env,omitempty"`
	Version string `json:"version,omitempty"`
	// PostKey names the run's one message, for chats that can make a
	// repeated post return the message already posted (Discord's nonce):
	// a bot stopped between posting and storing the reference posts
	// again with the same key.
	PostKey string `json:"post_key,omitempty"`
	// Related points at another run's message this one refers to (the
	// rollback a deployment's thread is told about).
	Related *Origin `json:"related,omitempty"`
	Title   string  `json:"title"`
	Status  string  `json:"status,omitempty"`
	State   State   `json:"state,omitempty"`
	Tone    Tone    `json:"tone"`
	Text    string  `json:"text,omitempty"`
	// Mentions are who the message calls on, shown before Text as the
	// chat's own mentions. They come only from the policy, never from text
	// people typed, which adapters escape so that it can ping nobody.
	Mentions []Mention `json:"mentions,omitempty"`
	Fields   []Field   `json:"fields,omitempty"`
	Items    []Item    `json:"items,omitempty"`
	// ItemsTitle names the list Items is: the pre-deployment checklist, or
	// the post-deployment validation while the run is monitored.
	ItemsTitle string   `json:"items_title,omitempty"`
	Buttons    []Button `json:"buttons,omitempty"`
	// Log is the tail of the current step's output.
	Log []string `json:"log,omitempty"`
	// NewLog are the output lines added since the previous update of this
	// message, each sent once: chats that post output as it comes (a
	// thread) take them from here rather than working them out from Log.
	NewLog []string `json:"new_log,omitempty"`
}

// Mention is a user, or with Group set a platform group (a Slack user
// group, a Discord guild role), that a message calls on by the chat's own
// mention. Adapters mention only ids of their own platform; anything else,
// and every chat without mentions (the console), shows Name.
type Mention struct {
	Platform string `json:"platform"`
	ID       string `json:"id"`
	Group    bool   `json:"group,omitempty"`
	Name     string `json:"name"`
}

// Field is a labelled value shown with the message.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Item is a checklist item as shown: people tick Editable ones; the others
// are checked by Shipmate or closed.
type Item struct {
	Key      string    `json:"key"`
	Label    string    `json:"label"`
	Done     bool      `json:"done"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Editable bool      `json:"editable"`
	// Auto items are checked by Shipmate; Detail and Link are its finding.
	Auto   bool   `json:"auto,omitempty"`
	Detail string `json:"detail,omitempty"`
	Link   string `json:"link,omitempty"`
}

// ButtonStyle hints how prominent a button is.
type ButtonStyle string

// Button styles.
const (
	StyleDefault ButtonStyle = ""
	StylePrimary ButtonStyle = "primary"
	StyleDanger  ButtonStyle = "danger"
)

// Button is an action people can take on a run from its message.
type Button struct {
	Action  ButtonAction `json:"action"`
	Label   string       `json:"label"`
	Style   ButtonStyle  `json:"style,omitempty"`
	RunID   uint64       `json:"run_id"`
	Confirm string       `json:"confirm,omitempty"` // ask before acting, with this question
	// Value binds the button to what its message showed (the version and
	// artifact an Approve approves). Adapters send it back as Act's arg, and
	// the engine refuses the click if the run has changed since.
	Value string `json:"value,omitempty"`
}

// ButtonAction names what a button (or checklist tick) does.
type ButtonAction string

// Button actions. Adapters pass them back to Engine.Act.
const (
	ButtonApprove  ButtonAction = "approve"
	ButtonReject   ButtonAction = "reject"
	ButtonCancel   ButtonAction = "cancel"
	ButtonRollback ButtonAction = "rollback"
	ButtonTick     ButtonAction = "tick"
	ButtonUntick   ButtonAction = "untick"
)
