package main

import (
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"shipmate/internal/adaptercfg"
	"shipmate/internal/adapters/discord"
	"shipmate/internal/adapters/exec"
	"shipmate/internal/adapters/jenkins"
	kube "shipmate/internal/adapters/kubernetes"
	slackadapter "shipmate/internal/adapters/slack"
	"shipmate/internal/adapters/web"
	"shipmate/internal/config"
	"shipmate/internal/runbook"
)

// executors builds each app's executor and the checkers of automated
// checklist items.
func (m *Main) executors(s *adaptercfg.Settings) (map[string]runbook.Executor, map[string]runbook.Checker, error) {
	executors := map[string]runbook.Executor{}
	checkers := map[string]runbook.Checker{}
	var jc *jenkins.Client
	if s.Jenkins != nil {
		var err error
		if jc, err = jenkins.NewClient(*s.Jenkins, m.log); err != nil {
			return nil, nil, fmt.Errorf("jenkins: %w", err)
		}
	}
	clusters := map[[2]string]*kube.Cluster{}
	for name, app := range s.Config.Apps {
		a := s.AppBlocks[name]
		if len(a.Checks) > 0 {
			checkers[name] = jenkins.NewChecker(jc, a.Checks)
		}
		var x runbook.Executor
		var err error
		switch app.Executor {
		case "jenkins":
			x, err = jenkins.NewExecutor(jc, *a.Jenkins)
		case "exec":
			xc := *a.Exec
			xc.StateDir = stepsDir(s.Store)
			x, err = exec.New(xc)
		case "kubernetes":
			x, err = m.kubernetes(name, a, clusters)
		default:
			err = fmt.Errorf("executor %q is not built into this Shipmate", app.Executor)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("apps.%s.%s: %w", name, app.Executor, err)
		}
		executors[name] = x
	}
	return executors, checkers, nil
}

// kubernetes builds a Kubernetes executor, sharing one cluster client per
// kubeconfig and context, built when an app first needs it. A cluster that
// cannot be reached leaves the app with an executor that fails each step
// with the reason (and /readyz says so): the other apps and the chats
// still work.
func (m *Main) kubernetes(name string, a adaptercfg.App, clusters map[[2]string]*kube.Cluster) (runbook.Executor, error) {
	if err := kube.RegisterMetrics(m.metrics.Registry()); err != nil {
		return nil, err
	}
	k := a.Kube
	key := [2]string{k.Kubeconfig, k.Context}
	cl, ok := clusters[key]
	if !ok {
		// The configuration is read now, so that /readyz tells of a
		// missing one at once; the client is built when a step needs it.
		rc, err := kube.RESTConfig(k.Kubeconfig, k.Context)
		if err != nil {
			m.log.Error().Err(err).Str("app", name).Msg("kubernetes: no cluster")
			m.problems = append(m.problems, fmt.Sprintf("apps.%s: %v", name, err))
			return unavailable{err: fmt.Errorf("apps.%s: %w", name, err)}, nil
		}
		cl = kube.NewLazyCluster(rc)
		clusters[key] = cl
		m.onStop = append(m.onStop, cl.Close)
	}
	return kube.New(*k, a.Smoke, cl)
}

// chatSet is what the engine is given of the chats.
type chatSet struct {
	chats  map[string]runbook.Chat
	groups map[string]runbook.GroupResolver
	web    *web.Chat // nil: no console
	slack  *slack.Client
	dir    *slackadapter.Directory
}

// chats builds the chats the engine posts to: the console's and Slack's.
// Discord's comes with its adapter, which needs the engine (startAdapters).
func (m *Main) chats(s *adaptercfg.Settings) (chatSet, error) {
	c := chatSet{chats: map[string]runbook.Chat{}, groups: map[string]runbook.GroupResolver{}}
	if s.Chat.Web.Enabled {
		c.web = web.NewChat(time.Now)
		c.chats[web.Platform] = c.web
	}
	if sc := s.Chat.Slack; sc.Enabled() {
		c.slack = slackClient(sc)
		m.slackCh = slackadapter.NewChat(c.slack, slackadapter.ChatOptions{
			AnnounceChannel: sc.AnnounceChannel, AnnounceEnv: s.Policy.Envs[len(s.Policy.Envs)-1].Name,
			Announce: s.Announce[slackadapter.Platform], Refs: m.store, Log: m.log,
		})
		c.dir = slackadapter.NewDirectory(c.slack, 5*time.Minute, m.log)
		c.chats[slackadapter.Platform] = m.slackCh
		c.groups[slackadapter.Platform] = c.dir
	}
	return c, nil
}

// startAdapters builds the chat adapters that take commands, once the
// engine exists; Discord's chat joins the engine here.
func (m *Main) startAdapters(s *adaptercfg.Settings, c chatSet) error {
	if c.slack != nil {
		m.slack = slackadapter.New(slackadapter.Options{
			API: c.slack, SigningSecret: s.Chat.Slack.SigningSecret, SocketMode: s.Chat.Slack.AppToken != "",
			Engine: m.engine, Runs: m.store, Deduper: m.store, Chat: m.slackCh, Directory: c.dir, Log: m.log,
		})
	}
	if s.Discord != nil {
		ad, err := discord.New(discord.Options{Config: *s.Discord, Engine: m.engine, Runs: m.store, Deduper: m.store,
			Apps: s.Policy.AppNames(), Envs: s.Policy.Envs, AnnounceEnv: s.Policy.Envs[len(s.Policy.Envs)-1].Name,
			Announce: s.Announce[discord.Platform], Refs: m.store,
			Log: m.log})
		if err != nil {
			return fmt.Errorf("discord: %w", err)
		}
		m.discord = ad
		m.engine.AttachChat(discord.Platform, ad.Chat())
	}
	return nil
}

// slackClient is the Slack Web API client of sc: its bot token, its app
// token for Socket Mode, and its API URL when set (a test's fake).
func slackClient(sc config.SlackConfig) *slack.Client {
	var opts []slack.Option
	if sc.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(sc.APIURL))
	}
	if sc.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(sc.AppToken))
	}
	return slack.New(sc.BotToken, opts...)
}
