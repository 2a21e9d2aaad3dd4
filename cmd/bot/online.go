package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/adaptercfg"
	"shipmate/internal/adapters/discord"
	"shipmate/internal/adapters/jenkins"
	kube "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/adapters/prometheus"
	slackadapter "shipmate/internal/adapters/slack"
	"shipmate/internal/probe"
)

// probeTimeout bounds each service's check of `bot check --online`.
const probeTimeout = 10 * time.Second

// checkOnline is `bot check --online`: it tries every configured service
// side by side and prints one line per thing tried, in a stable order. It
// returns exitFail when any fails.
func checkOnline(s *adaptercfg.Settings, source string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	checks := onlineChecks(s)
	if len(checks) == 0 {
		fmt.Fprintf(stdout, "%s: ok; no outside service (Slack, Discord, Jenkins, Kubernetes, Prometheus) is configured\n", source)
		return exitOK
	}
	rs := probe.Redact(probe.Run(ctx, probeTimeout, checks), s.Secrets())
	if err := probe.Write(stdout, rs); err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitFail
	}
	if !probe.AllOK(rs) {
		return exitFail
	}
	return exitOK
}

// onlineChecks lists the checks of the configured services, in the order
// their lines are printed.
func onlineChecks(s *adaptercfg.Settings) []probe.Check {
	var checks []probe.Check
	if sc := s.Chat.Slack; sc.Enabled() {
		api := slackClient(sc)
		checks = append(checks, probe.Check{Service: slackadapter.Platform, Run: func(ctx context.Context) []probe.Result {
			return slackadapter.Probe(ctx, api, sc.AppToken != "")
		}})
	}
	if d := s.Discord; d != nil && d.Enabled() {
		checks = append(checks, probe.Check{Service: discord.Platform, Run: func(ctx context.Context) []probe.Result {
			return discord.Probe(ctx, *d, nil)
		}})
	}
	if s.Jenkins != nil {
		checks = append(checks, jenkinsCheck(s))
	}
	var envs []string
	for _, e := range s.Policy.Envs {
		envs = append(envs, e.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(s.AppBlocks)) {
		if k := s.AppBlocks[name].Kube; k != nil {
			checks = append(checks, kubeCheck(name, *k, envs))
		}
	}
	if p := s.Prometheus; p != nil {
		checks = append(checks, probe.Check{Service: "prometheus", Run: func(ctx context.Context) []probe.Result {
			return prometheus.Probe(ctx, *p, &s.Policy)
		}})
	}
	return checks
}

// jenkinsCheck tries Jenkins and every app's deploy job and CI jobs.
func jenkinsCheck(s *adaptercfg.Settings) probe.Check {
	var deploy []jenkins.JobConfig
	var ci []string
	for _, name := range slices.Sorted(maps.Keys(s.AppBlocks)) {
		a := s.AppBlocks[name]
		if a.Jenkins != nil {
			deploy = append(deploy, *a.Jenkins)
		}
		for _, item := range slices.Sorted(maps.Keys(a.Checks)) {
			ci = append(ci, a.Checks[item].Job)
		}
	}
	return probe.Check{Service: "jenkins", Run: func(ctx context.Context) []probe.Result {
		c, err := jenkins.NewClient(*s.Jenkins, zerolog.Nop())
		if err != nil {
			return []probe.Result{probe.Fail("jenkins", "client", err)}
		}
		return jenkins.Probe(ctx, c, deploy, ci)
	}}
}

// kubeCheck tries app's workloads on its cluster.
func kubeCheck(app string, k kube.Config, envs []string) probe.Check {
	return probe.Check{Service: "kubernetes", Run: func(ctx context.Context) []probe.Result {
		rc, err := kube.RESTConfig(k.Kubeconfig, k.Context)
		if err != nil {
			return []probe.Result{probe.Fail("kubernetes", app, err)}
		}
		cl, err := kube.NewCluster(rc)
		if err != nil {
			return []probe.Result{probe.Fail("kubernetes", app, err)}
		}
		defer cl.Close()
		return kube.Probe(ctx, cl.Client, app, k, envs)
	}}
}
