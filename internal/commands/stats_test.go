package commands

// statsTests join parseTests (and so seed FuzzParse).
var statsTests = []parseTest{
	{name: "stats", command: "/deploy", text: "stats demo", want: intent(Intent{Kind: KindStats, App: "demo", Days: 30})},
	{name: "stats env", command: "/deploy", text: "stats demo prod", want: intent(Intent{Kind: KindStats, App: "demo", Env: "production", Days: 30})},
	{name: "stats days", command: "/deploy", text: "stats demo --days 7", want: intent(Intent{Kind: KindStats, App: "demo", Days: 7})},
	{name: "stats days=", command: "/deploy", text: "stats --days=90 demo stg", want: intent(Intent{Kind: KindStats, App: "demo", Env: "staging", Days: 90})},
	{name: "stats no app", command: "/deploy", text: "stats", want: fail("usage: /deploy stats <app> [env] [--days N]")},
	{name: "stats too many", command: "/deploy", text: "stats demo prod v1", want: fail("usage: /deploy stats <app> [env] [--days N]")},
	{name: "stats unknown app", parser: knownApps, command: "/deploy", text: "stats billing",
		want: fail(`unknown app "billing": did you mean billing-api?`)},
	{name: "stats unknown env", command: "/deploy", text: "stats demo qa",
		want: fail(`unknown environment "qa" (environments: development, staging, production)`)},
	{name: "stats days zero", command: "/deploy", text: "stats demo --days 0", want: fail("--days 0: want a number of days from 1 to 366")},
	{name: "stats days too many", command: "/deploy", text: "stats demo --days 400", want: fail("--days 400: want a number of days from 1 to 366")},
	{name: "stats days words", command: "/deploy", text: "stats demo --days week", want: fail(`--days week: want a number of days from 1 to 366`)},
	{name: "stats days missing", command: "/deploy", text: "stats demo --days", want: fail("--days needs a value, e.g. --days 30")},
	{name: "stats days twice", command: "/deploy", text: "stats demo --days 7 --days 8", want: fail("--days given twice")},
	{name: "days on a deploy", command: "/deploy", text: "demo v1 prod --days 7",
		want: fail("--days is not valid with /deploy (flags: --reason, --dry-run, --emergency)")},
	{name: "stats reason", command: "/deploy", text: "stats demo --reason why",
		want: fail("--reason is not valid with /deploy stats (flags: --days)")},
}

func init() { parseTests = append(parseTests, statsTests...) }
