package commands

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Parser turns chat commands into Results. It is a pure function of its
// configuration and the text: no I/O, no clock. The zero Parser accepts any
// well-formed app name but knows no environments, so every command that needs
// one is refused. A Parser is safe for concurrent use as long as its fields
// are not changed.
type Parser struct {
	// Envs are the environments users may name, with their aliases.
	Envs []Env
	// Apps are the known app names. When empty, any well-formed app name is
	// accepted and the caller checks it exists.
	Apps []string
}

// call is one command on its way through the parser: the verb it selected,
// the arguments left for that verb, and the flags it was given.
type call struct {
	verb *verb
	args []string

	used      []*flag
	unknown   string // the first unknown flag, reported once the verb is known
	reason    string
	dryRun    bool
	emergency bool
	incident  bool
	days      int
}

// token is one word of a command. A quoted token is always a plain word,
// never a flag, so "--reason" can be given as text by quoting it.
type token struct {
	text   string
	quoted bool
}

// Parse parses one slash command. command is the command as the platform
// delivers it ("/deploy" or "deploy"); text is everything after it. A command
// other than deploy or rollback gives the zero Result, which is Ignored.
func (p *Parser) Parse(command, text string) Result {
	name, ok := commandName(command)
	if !ok {
		return Result{}
	}
	res, err := p.parse(name, text)
	if err != nil {
		return Result{Reply: err.Error(), Err: true}
	}
	return res
}

// ParseLine parses a whole chat line such as "/deploy demo v1 staging",
// splitting off the command itself. A line that does not start with /deploy
// or /rollback is Ignored.
func (p *Parser) ParseLine(line string) Result {
	command, text, ok := SplitLine(line)
	if !ok {
		return Result{}
	}
	return p.Parse(command, text)
}

// SplitLine splits a chat line into its slash command and the rest, at the
// first white space of any kind. ok is false when the line does not start
// with a slash command.
func SplitLine(line string) (command, text string, ok bool) {
	line = strings.TrimLeftFunc(line, unicode.IsSpace)
	if !strings.HasPrefix(line, "/") {
		return "", "", false
	}
	command = line
	if i := strings.IndexFunc(line, unicode.IsSpace); i >= 0 {
		command, text = line[:i], line[i:]
	}
	return command, text, true
}

// commandName returns the canonical name of a deploy or rollback command.
func commandName(command string) (string, bool) {
	name := asciiLower(strings.TrimPrefix(strings.TrimSpace(command), "/"))
	switch name {
	case "deploy", "rollback":
		return name, true
	}
	return "", false
}

func (p *Parser) parse(command, text string) (Result, error) {
	if err := checkText(text); err != nil {
		return Result{}, err
	}
	toks, err := tokenize(text)
	if err != nil {
		return Result{}, err
	}
	if len(toks) == 0 && command == "deploy" {
		return Result{Reply: p.Help()}, nil
	}
	c, err := splitFlags(toks)
	if err != nil {
		return Result{}, err
	}
	c.verb, c.args = lookupVerb(command, c.args)
	if err := c.checkFlags(); err != nil {
		return Result{}, err
	}
	return c.verb.parse(p, c)
}

// splitFlags separates flags from positional arguments. It needs no verb:
// every flag is spelled the same everywhere, so which flags the verb accepts
// is checked afterwards, in checkFlags.
func splitFlags(toks []token) (*call, error) {
	c := &call{}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !isFlag(t) {
			c.args = append(c.args, t.text)
			continue
		}
		name, value, hasValue := strings.Cut(t.text, "=")
		name = asciiLower(name)
		f := lookupFlag(name)
		if f == nil {
			if c.unknown == "" {
				c.unknown = name
			}
			continue
		}
		if f.value == "" {
			if hasValue {
				return nil, fmt.Errorf("%s takes no value", f.name)
			}
		} else if !hasValue {
			if i+1 == len(toks) || isFlag(toks[i+1]) {
				return nil, fmt.Errorf(`%s needs a value, e.g. %s %s`, f.name, f.name, f.example)
			}
			i++
			value = toks[i].text
		}
		switch f {
		case flagReason:
			if c.reason != "" {
				return nil, errors.New("--reason given twice")
			}
			reason, err := cleanReason(value)
			if err != nil {
				return nil, err
			}
			if reason == "" {
				return nil, errors.New(`--reason needs a value, e.g. --reason "why"`)
			}
			c.reason = reason
		case flagDryRun:
			c.dryRun = true
		case flagEmergency:
			c.emergency = true
		case flagIncident:
			c.incident = true
		case flagDays:
			days, err := parseDays(value, c.days != 0)
			if err != nil {
				return nil, err
			}
			c.days = days
		}
		c.used = append(c.used, f)
	}
	return c, nil
}

// checkFlags refuses flags the verb does not take, and an emergency without a
// reason: an emergency skips the usual checks, so the log must say why.
func (c *call) checkFlags() error {
	if c.unknown != "" {
		return fmt.Errorf("unknown flag %s (%s)", quote(c.unknown), c.verb.flagList())
	}
	for _, f := range c.used {
		if !c.verb.accepts(f) {
			return fmt.Errorf("%s is not valid with %s (%s)", f.name, c.verb.title(), c.verb.flagList())
		}
	}
	if c.emergency && c.reason == "" {
		return errors.New(`--emergency needs --reason "why"`)
	}
	return nil
}

// wantArgs checks the number of arguments; max < 0 means no upper limit.
func (c *call) wantArgs(min, max int) error {
	if len(c.args) < min || (max >= 0 && len(c.args) > max) {
		return c.usageError()
	}
	return nil
}

func (c *call) usageError() error {
	return errors.New("usage: " + c.verb.usage())
}

func lookupFlag(name string) *flag {
	for _, f := range allFlags {
		if f.name == name {
			return f
		}
	}
	return nil
}

func isFlag(t token) bool {
	return !t.quoted && strings.HasPrefix(t.text, "--")
}

// tokenize splits text into words. Quotes group words, but only a quote that
// opens a word (or the value of --flag=) counts, and only a closing quote
// followed by a space or the end: an apostrophe inside a word, as in "don't",
// is an ordinary letter. Chat clients turn quotes into smart quotes, and
// "--" into a dash, so both are accepted.
func tokenize(text string) ([]token, error) {
	rs := []rune(text)
	var toks []token
	for i := 0; i < len(rs); {
		if unicode.IsSpace(rs[i]) {
			i++
			continue
		}
		if quoteFamily(rs[i]) != 0 {
			word, next, err := readQuoted(rs, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{text: word, quoted: true})
			i = next
			continue
		}
		start := i
		flagWord := isDashes(rs[start:])
		var word string
		for ; i < len(rs) && !unicode.IsSpace(rs[i]); i++ {
			if flagWord && rs[i] == '=' && i+1 < len(rs) && quoteFamily(rs[i+1]) != 0 &&
				!strings.ContainsRune(string(rs[start:i]), '=') {
				value, next, err := readQuoted(rs, i+1)
				if err != nil {
					return nil, err
				}
				word = string(rs[start:i+1]) + value
				i = next
				break
			}
		}
		if word == "" {
			word = string(rs[start:i])
		}
		if flagWord {
			word = "--" + strings.TrimLeft(word, "-—–")
		}
		toks = append(toks, token{text: word})
	}
	return toks, nil
}

// readQuoted reads the quoted string whose opening quote is rs[open]. It
// returns the text between the quotes and the index after the closing one.
func readQuoted(rs []rune, open int) (string, int, error) {
	family := quoteFamily(rs[open])
	for j := open + 1; j < len(rs); j++ {
		if quoteFamily(rs[j]) == family && (j+1 == len(rs) || unicode.IsSpace(rs[j+1])) {
			return string(rs[open+1 : j]), j + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated quote in %s", clip(string(rs[open:])))
}

// quoteFamily returns the straight double quote for any double quote, the
// straight single quote for any single quote (smart or not), and 0 for any
// other rune.
func quoteFamily(r rune) rune {
	switch r {
	case '"', '“', '”', '„':
		return '"'
	case '\'', '‘', '’', '‚':
		return '\''
	}
	return 0
}

// isDashes reports whether a word starts like a flag: "--" or a dash that a
// chat client made of "--", followed by a letter.
func isDashes(rs []rune) bool {
	switch {
	case len(rs) >= 2 && rs[0] == '-' && rs[1] == '-':
		return true
	case len(rs) >= 2 && (rs[0] == '—' || rs[0] == '–') && unicode.IsLetter(rs[1]):
		return true
	}
	return false
}
