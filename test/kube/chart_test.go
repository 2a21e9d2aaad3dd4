package kube

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// update rewrites deploy/kubernetes from a fresh render of the chart:
// go test -run TestPlainManifests ./... -update
var update = flag.Bool("update", false, "rewrite deploy/kubernetes/shipmate.yaml from the chart")

const (
	chartDir      = "../../deploy/helm/shipmate"
	plainManifest = "../../deploy/kubernetes/shipmate.yaml"
	// releaseName and releaseNamespace are those of the plain manifests.
	releaseName      = "shipmate"
	releaseNamespace = "shipmate"
)

// renderChart renders the chart as `helm template` does, with the values
// files (none: the defaults) and values set on top, and returns the
// manifest: every object in install order, each after its "# Source:".
func renderChart(t *testing.T, set map[string]any, files ...string) (string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	vals := map[string]any{}
	for _, f := range files {
		v, err := common.ReadValuesFile(f)
		if err != nil {
			t.Fatal(err)
		}
		vals = loader.MergeMaps(vals, v)
	}
	vals = loader.MergeMaps(vals, set)
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = releaseNamespace
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return "", err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		t.Fatalf("install returned a %T", rel)
	}
	return strings.TrimSpace(r.Manifest) + "\n", nil
}

// mustRender is renderChart for values that must render.
func mustRender(t *testing.T, set map[string]any, files ...string) string {
	t.Helper()
	out, err := renderChart(t, set, files...)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	return out
}

// objects decodes a rendered manifest into its objects, with the release's
// namespace on those that name none (as helm install does; cluster-scoped
// kinds are not rendered by this chart).
func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("decoding the render: %v", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetNamespace() == "" {
			u.SetNamespace(releaseNamespace)
		}
		out = append(out, u)
	}
}

// kinds lists kind/name of each object.
func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// The chart lints clean (no warning, no error) for the defaults and for
// every optional part on.
func TestChartLints(t *testing.T) {
	for _, files := range [][]string{nil, {"testdata/values-all.yaml"}} {
		vals := map[string]any{}
		for _, f := range files {
			v, err := common.ReadValuesFile(f)
			if err != nil {
				t.Fatal(err)
			}
			vals = v
		}
		res := lint.RunAll(chartDir, vals, releaseNamespace)
		for _, m := range res.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("lint %v: %s", files, m)
			} else {
				t.Logf("lint %v: %s", files, m)
			}
		}
	}
}

// The defaults render one StatefulSet replica on a volume claim, without
// the optional parts; values-all.yaml renders each of them.
func TestChartRenders(t *testing.T) {
	def := strings.Join(kinds(objects(t, mustRender(t, nil))), " ")
	want := "ServiceAccount/shipmate ConfigMap/shipmate Service/shipmate StatefulSet/shipmate"
	if def != want {
		t.Errorf("defaults render %s, want %s", def, want)
	}
	all := strings.Join(kinds(objects(t, mustRender(t, nil, "testdata/values-all.yaml"))), " ")
	for _, k := range []string{"Role/shipmate-deployer", "RoleBinding/shipmate-deployer", "Ingress/shipmate",
		"NetworkPolicy/shipmate", "ServiceMonitor/shipmate"} {
		if !strings.Contains(all, k) {
			t.Errorf("values-all.yaml renders no %s: %s", k, all)
		}
	}
}

// The plain manifests of deploy/kubernetes are the chart's defaults,
// rendered afresh.
func TestPlainManifests(t *testing.T) {
	header := "# Shipmate's Helm chart (deploy/helm/shipmate) rendered with its defaults,\n" +
		"# as release \"shipmate\" in namespace \"shipmate\", for clusters without Helm.\n" +
		"# Regenerate: cd test/kube && go test -run TestPlainManifests ./... -update\n"
	want := header + mustRender(t, nil)
	if *update {
		if err := os.MkdirAll(filepath.Dir(plainManifest), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(plainManifest, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(plainManifest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("%s differs from a fresh render of the chart: run the test with -update\n%s", plainManifest, firstDiff(string(got), want))
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n  have %q\n  want %q", i+1, gl, wl)
		}
	}
	return ""
}
