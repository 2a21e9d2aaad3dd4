package discord

import (
	"encoding/json"
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/google/go-cmp/cmp"

	"shipmate/internal/commands"
)

// data decodes a command interaction's data as Discord sends it.
func data(t *testing.T, s string) discordgo.ApplicationCommandInteractionData {
	t.Helper()
	var d discordgo.ApplicationCommandInteractionData
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// The options become text the core parser reads back as the same intent,
// whatever quotes or dashes a reason holds.
func TestCommandTextRoundTrip(t *testing.T) {
	p := &commands.Parser{Apps: []string{"demo"}, Envs: []commands.Env{
		{Name: "staging"}, {Name: "production", Aliases: []string{"prod"}}}}
	run := func(opts string) string {
		return `{"name":"deploy","options":[{"name":"run","type":1,"options":[` + opts + `]}]}`
	}
	cases := []struct {
		name, data string
		want       commands.Intent
	}{
		{"deploy", run(`{"name":"app","type":3,"value":"demo"},{"name":"version","type":3,"value":"1.2.0"},{"name":"env","type":3,"value":"staging"}`),
			commands.Intent{Kind: commands.KindDeploy, App: "demo", Version: "1.2.0", Env: "staging"}},
		{"emergency", run(`{"name":"app","type":3,"value":"demo"},{"name":"version","type":3,"value":"1.2.1"},{"name":"env","type":3,"value":"production"},{"name":"reason","type":3,"value":"say \"hi\" --dry-run now"},{"name":"emergency","type":5,"value":true},{"name":"dry_run","type":5,"value":true}`),
			commands.Intent{Kind: commands.KindDeploy, App: "demo", Version: "1.2.1", Env: "production",
				Reason: `say "hi" --dry-run now`, Emergency: true, DryRun: true}},
		// Both kinds of quote closing inside: the grammar cannot carry that,
		// so double quotes become single ones.
		{"both quotes", run(`{"name":"app","type":3,"value":"demo"},{"name":"version","type":3,"value":"1.2.1"},{"name":"env","type":3,"value":"staging"},{"name":"reason","type":3,"value":"a \"b\" 'c' d"}`),
			commands.Intent{Kind: commands.KindDeploy, App: "demo", Version: "1.2.1", Env: "staging", Reason: `a 'b' 'c' d`}},
		{"reason ending in a quote", run(`{"name":"app","type":3,"value":"demo"},{"name":"version","type":3,"value":"1.2.1"},{"name":"env","type":3,"value":"staging"},{"name":"reason","type":3,"value":"the \"fix\""}`),
			commands.Intent{Kind: commands.KindDeploy, App: "demo", Version: "1.2.1", Env: "staging", Reason: `the "fix"`}},
		{"approve", `{"name":"deploy","options":[{"name":"approve","type":1,"options":[{"name":"id","type":4,"value":12}]}]}`,
			commands.Intent{Kind: commands.KindApprove, RunID: 12}},
		{"reject", `{"name":"deploy","options":[{"name":"reject","type":1,"options":[{"name":"id","type":4,"value":3},{"name":"reason","type":3,"value":"--not now"}]}]}`,
			commands.Intent{Kind: commands.KindReject, RunID: 3, Reason: "--not now"}},
		{"status", `{"name":"deploy","options":[{"name":"status","type":1,"options":[]}]}`,
			commands.Intent{Kind: commands.KindStatus}},
		{"rollback", `{"name":"rollback","options":[{"name":"app","type":3,"value":"demo"},{"name":"env","type":3,"value":"prod"},{"name":"to","type":3,"value":"1.0.0"},{"name":"reason","type":3,"value":"broken"}]}`,
			commands.Intent{Kind: commands.KindRollback, App: "demo", Env: "production", Version: "1.0.0", Reason: "broken"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			command, text, ok := commandText(data(t, c.data))
			if !ok {
				t.Fatal("not a command")
			}
			res := p.Parse(command, text)
			if res.Intent == nil {
				t.Fatalf("%s %s: %s", command, text, res.Reply)
			}
			if diff := cmp.Diff(c.want, *res.Intent); diff != "" {
				t.Fatalf("%s %s (-want +got):\n%s", command, text, diff)
			}
		})
	}
	if _, _, ok := commandText(data(t, `{"name":"other"}`)); ok {
		t.Fatal("an unknown command was taken")
	}
	// help has no intent, but a reply.
	command, text, _ := commandText(data(t, `{"name":"deploy","options":[{"name":"help","type":1}]}`))
	if res := p.Parse(command, text); res.Intent != nil || res.Err || res.Reply == "" {
		t.Fatalf("help: %+v", res)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{BotToken: "t", ApplicationID: "1", PublicKey: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.PublicKey = "abc"
	bad.APIURL = "ftp://x"
	err := bad.Validate()
	if err == nil || !startsWithKey(err.Error(), "public_key: want 64 hex characters") {
		t.Fatalf("err = %v", err)
	}
	if (Config{}).Enabled() {
		t.Fatal("empty config enabled")
	}
	off := Config{}
	if err := off.Validate(); err != nil {
		t.Fatal(err)
	}
}

func startsWithKey(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }
