// Package jenkinstest is a fake of the parts of Jenkins's remote API that
// Shipmate and the gojenkins library call, speaking Jenkins's JSON shapes,
// status codes and headers (see Jenkins's "Remote Access API"
// documentation and the classes behind each URL: Hudson, Job, Queue.Item,
// Run, AnnotatedLargeText). It serves the jenkins adapter's tests and the
// end-to-end tests of the built bot: a build lives in the fake, not in a
// bot, so it outlives a bot that is killed and another bot can re-attach
// to it by its number.
//
// A test adds jobs, each with the parameters it declares and a Script for
// its builds, and may inject faults. Builds move on as they are looked at,
// which is how a poller sees them: each request for a build's status
// writes the next chunk of its console; once every chunk is written, the
// build ends with its Result, unless its Duration has not passed yet or
// its Hold channel is still open. A queue item waits Job.QueueDelay looks
// before its build starts.
//
// # Pointing a bot at the fake
//
// The top-level jenkins block names the fake's URL and the credentials New
// was given; the app's jenkins block names the job and its parameters:
//
//	jenkins:
//	  url: http://127.0.0.1:41234     # Server.URL
//	  user: bob                       # New's user
//	  token: 11d7c0ffee5ecret7oken42  # New's token
//	apps:
//	  billing:
//	    executor: jenkins
//	    jenkins:
//	      job: deploy/billing         # Job.Name; "/" separates folders
//	      params: {ACTION: deploy, APP: "{app}", VERSION: "{version}", RUN: "{run}"}
//	      rollback_params: {ACTION: rollback}
//	      timeout: 10m
//
// Every key under params and rollback_params must be one of the job's
// Job.Params, or the bot refuses to start the job (Jenkins would ignore
// it and build with its defaults). A job that declares parameters is
// triggered through buildWithParameters, one that declares none through
// build.
//
// # Holding a build and counting builds
//
// A build with a Hold keeps running, after its chunks, until the test
// closes the channel; Started counts the builds a job has started, and
// Triggers lists the parameters of each request to build it:
//
//	jk := jenkinstest.New(t, "bob", "11d7c0ffee5ecret7oken42")
//	release := make(chan struct{})
//	jk.AddJob(jenkinstest.Job{
//		Name:   "deploy/billing",
//		Params: []string{"ACTION", "APP", "RUN", "VERSION"},
//		Script: jenkinstest.Script{Chunks: []string{"deploying\n", "migrating\n"}, Result: "SUCCESS", Hold: release},
//	})
//	// Deploy; once jk.Started("deploy/billing") == 1, kill the bot that
//	// started the build and let another one re-attach to it.
//	close(release)
//	// The other bot reports the build's end; no bot started another one:
//	if n := jk.Started("deploy/billing"); n != 1 {
//		t.Errorf("%d builds started, want 1", n)
//	}
//
// The bot looks at a running build every few seconds, so each chunk of a
// script adds that much to a build's life in an end-to-end test.
package jenkinstest
