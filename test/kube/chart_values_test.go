package kube

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// object returns the rendered object of kind, converted into out.
func object(t *testing.T, manifest, kind string, out any) {
	t.Helper()
	for _, o := range objects(t, manifest) {
		if o.GetKind() == kind {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no %s rendered", kind)
}

// A bbolt file takes one writer: more than one replica renders only with
// an etcd store, and says why otherwise.
func TestChartReplicasNeedEtcd(t *testing.T) {
	_, err := renderChart(t, map[string]any{"replicas": 3})
	if err == nil || !strings.Contains(err.Error(), "replicas: 3 needs the etcd store (store: etcd://... in config)") {
		t.Fatalf("3 replicas on bbolt: err = %v, want the render refused", err)
	}
	cfg, err := os.ReadFile("../../configs/container.yaml")
	if err != nil {
		t.Fatal(err)
	}
	etcd := strings.Replace(string(cfg), `store: "/var/lib/shipmate/data/shipmate.db"`, `store: "etcd://etcd-0.etcd:2379/shipmate"`, 1)
	var sts appsv1.StatefulSet
	object(t, mustRender(t, map[string]any{"replicas": 3, "config": etcd}), "StatefulSet", &sts)
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("3 replicas on etcd render %v", sts.Spec.Replicas)
	}
	if _, err := renderChart(t, map[string]any{"config": "listen: [unclosed"}); err == nil || !strings.Contains(err.Error(), "config: not YAML") {
		t.Errorf("a config that is not YAML: err = %v", err)
	}
}

// The chart's default configuration is the image's (configs/container.yaml),
// and a change of the configuration changes the pod template, so that it
// rolls the pods.
func TestChartConfig(t *testing.T) {
	chartCfg, err := os.ReadFile(chartDir + "/files/shipmate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	imageCfg, err := os.ReadFile("../../configs/container.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chartCfg, imageCfg) {
		t.Errorf("%s/files/shipmate.yaml differs from configs/container.yaml: copy it over", chartDir)
	}
	checksum := func(set map[string]any) string {
		var sts appsv1.StatefulSet
		object(t, mustRender(t, set), "StatefulSet", &sts)
		return sts.Spec.Template.Annotations["checksum/config"]
	}
	def, changed := checksum(nil), checksum(map[string]any{"config": string(imageCfg) + "# changed\n"})
	if def == "" || def == changed {
		t.Errorf("checksum/config: %q by default, %q once changed", def, changed)
	}
}

// The pod runs as the image's numeric user, with no way to gain
// privileges, and tokens come from the Secret by reference only.
func TestChartPodSecurity(t *testing.T) {
	var sts appsv1.StatefulSet
	object(t, mustRender(t, nil, "testdata/values-all.yaml"), "StatefulSet", &sts)
	pod := sts.Spec.Template.Spec
	uid := dockerfileUser(t)
	if psc := pod.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != uid ||
		psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.FSGroup == nil {
		t.Errorf("pod securityContext %+v, want runAsNonRoot as the Dockerfile's user %d", psc, uid)
	}
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v", sc)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes on %s and %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	for _, e := range c.Env {
		secret := strings.Contains(e.Name, "TOKEN") || strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "PASSWORD")
		if secret && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s is not read from the Secret: %+v", e.Name, e)
		}
	}
}

// The Ingress exposes the chat platforms' endpoints and nothing else.
func TestChartIngressPaths(t *testing.T) {
	var ing networkingv1.Ingress
	object(t, mustRender(t, nil, "testdata/values-all.yaml"), "Ingress", &ing)
	var paths []string
	for _, r := range ing.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			paths = append(paths, p.Path)
		}
	}
	if !slices.Equal(paths, []string{"/slack/", "/discord/"}) {
		t.Errorf("the Ingress serves %v, want only /slack/ and /discord/", paths)
	}
}

// dockerfileUser is the numeric user the Dockerfile's final stage runs as.
func dockerfileUser(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var user string
	for s := bufio.NewScanner(f); s.Scan(); {
		if rest, ok := strings.CutPrefix(s.Text(), "USER "); ok {
			user = strings.TrimSpace(rest)
		}
	}
	uid, gid, _ := strings.Cut(user, ":")
	n, err := strconv.ParseInt(uid, 10, 64)
	if err != nil || (gid != "" && gid != uid) {
		t.Fatalf("the Dockerfile's USER %q is not a numeric uid[:gid] (runAsNonRoot cannot check a name)", user)
	}
	vals, err := common.ReadValuesFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	psc, _ := vals["podSecurityContext"].(map[string]any)
	if got := fmt.Sprint(psc["runAsUser"]); got != uid {
		t.Errorf("values.yaml's runAsUser %s differs from the Dockerfile's USER %s", got, uid)
	}
	return n
}
