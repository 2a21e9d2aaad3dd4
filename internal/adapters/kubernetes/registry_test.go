package kubernetes

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"shipmate/internal/adapters/kubernetes/registrytest"
	"shipmate/internal/runbook"
)

// The resolver against go-containerregistry's in-memory registry. The
// fake API server only serves the workloads, service accounts and pull
// secrets the resolver reads; rollouts are tested in test/kube.

const (
	robot    = "shipmate-robot"
	password = "s3cret-Pa55word-9f2c"
)

// newRegistry starts an in-memory registry on loopback; auth, when set,
// is the user and password it wants on every request.
func newRegistry(t *testing.T, auth *authn.Basic) *registrytest.Registry {
	t.Helper()
	if auth == nil {
		return registrytest.Start(t)
	}
	return registrytest.StartPrivate(t, auth.Username, auth.Password)
}

// cluster is what the resolver finds in namespace shop: the workload's pod
// spec (its pull secrets and service account) and other objects.
type cluster struct {
	pod  corev1.PodSpec
	objs []runtime.Object
}

// checkoutOn returns an executor for the checkout app whose image lives on
// reg, on a fake cluster holding in.
func checkoutOn(t *testing.T, reg *registrytest.Registry, cfg func(*Config), in cluster) *Executor {
	t.Helper()
	pod := in.pod
	pod.Containers = []corev1.Container{{Name: "app", Image: reg.Host + "/shop/checkout:v1"}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "checkout-api", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: pod}}}
	cl := NewClusterForClient(fakeAPI(t, append(in.objs, d)...))
	t.Cleanup(cl.Close)
	c := Config{Namespace: "shop", Workloads: []string{"deployment/checkout-api"}, Image: reg.Host + "/shop/checkout:{version}"}
	if cfg != nil {
		cfg(&c)
	}
	x, err := New(c, nil, cl)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func resolve(x *Executor, version string) (string, error) {
	return x.Resolve(context.Background(), runbook.Job{App: "checkout", Env: "production", Version: version})
}

func TestResolveGivesTheTagsDigest(t *testing.T) {
	reg := newRegistry(t, nil)
	v1 := reg.Push(t, "shop/checkout:v1")
	x := checkoutOn(t, reg, nil, cluster{})
	got, err := resolve(x, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if want := reg.Host + "/shop/checkout@" + v1; got != want {
		t.Fatalf("Resolve(v1) = %q, want %q", got, want)
	}

	// The tag is pushed again: the same version is now another image.
	v1b := reg.Push(t, "shop/checkout:v1")
	if v1b == v1 {
		t.Fatal("two random images with one digest")
	}
	got, err = resolve(x, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if want := reg.Host + "/shop/checkout@" + v1b; got != want {
		t.Fatalf("after a new push Resolve(v1) = %q, want %q", got, want)
	}
}

func TestResolveOfAnUnknownTagSaysNotFound(t *testing.T) {
	reg := newRegistry(t, nil)
	reg.Push(t, "shop/checkout:v1")
	_, err := resolve(checkoutOn(t, reg, nil, cluster{}), "v9")
	if err == nil || err.Error() != reg.Host+"/shop/checkout:v9 not found in the registry" {
		t.Fatalf("err = %v", err)
	}
	// A repository the registry has never seen reads the same.
	_, err = resolve(checkoutOn(t, reg, func(c *Config) { c.Image = reg.Host + "/shop/nothing:{version}" }, cluster{}), "v1")
	if err == nil || err.Error() != reg.Host+"/shop/nothing:v1 not found in the registry" {
		t.Fatalf("err = %v", err)
	}
}

func TestResolveWithoutARegistrySaysItCannotReachIt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = resolve(checkoutOn(t, &registrytest.Registry{Host: host}, nil, cluster{}), "v1")
	if err == nil || !strings.HasPrefix(err.Error(), host+"/shop/checkout:v1: cannot reach the registry "+host+": ") {
		t.Fatalf("err = %v", err)
	}
}

func dockerConfigJSON(host, user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, "https://"+host, auth))
}

func pullSecret(name string, typ corev1.SecretType, data []byte) *corev1.Secret {
	key := corev1.DockerConfigJsonKey
	if typ == corev1.SecretTypeDockercfg {
		key = corev1.DockerConfigKey
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Type: typ,
		Data: map[string][]byte{key: data}}
}

func TestResolveOnAPrivateRegistry(t *testing.T) {
	reg := newRegistry(t, &authn.Basic{Username: robot, Password: password})
	v1 := reg.Push(t, "shop/checkout:v1")
	want := reg.Host + "/shop/checkout@" + v1
	withPullSecret := corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}
	dockercfg := []byte(fmt.Sprintf(`{%q:{"username":%q,"password":%q}}`, reg.Host, robot, password))

	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		in   cluster
	}{
		{"configured credentials", func(c *Config) { c.Registry = &RegistryAuth{Username: robot, Password: password} }, cluster{}},
		{"the pod template's dockerconfigjson pull secret", nil, cluster{withPullSecret, []runtime.Object{
			pullSecret("regcred", corev1.SecretTypeDockerConfigJson, dockerConfigJSON(reg.Host, robot, password))}}},
		{"the service account's dockercfg pull secret", nil, cluster{corev1.PodSpec{ServiceAccountName: "checkout"}, []runtime.Object{
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "legacy"}}},
			pullSecret("legacy", corev1.SecretTypeDockercfg, dockercfg)}}},
		{"the default service account's pull secret", nil, cluster{corev1.PodSpec{}, []runtime.Object{
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "shop"},
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}},
			pullSecret("regcred", corev1.SecretTypeDockerConfigJson, dockerConfigJSON(reg.Host, robot, password))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolve(checkoutOn(t, reg, tc.cfg, tc.in), "v1")
			if err != nil || got != want {
				t.Fatalf("Resolve(v1) = %q, %v; want %q", got, err, want)
			}
		})
	}
}

func TestResolveOnAPrivateRegistryWithoutGoodCredentialsSaysWhy(t *testing.T) {
	reg := newRegistry(t, &authn.Basic{Username: robot, Password: password})
	reg.Push(t, "shop/checkout:v1")
	wrong := "wrong-Pa55word-77aa"
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		in   cluster
		want string
	}{
		{"none", nil, cluster{}, "the registry refused access (401 Unauthorized) without credentials: none found for " + reg.Host +
			" in kubernetes.registry or the workloads' pull secrets"},
		{"a wrong password", func(c *Config) { c.Registry = &RegistryAuth{Username: robot, Password: wrong} }, cluster{},
			"the registry refused access (401 Unauthorized) with the credentials of kubernetes.registry"},
		{"a wrong pull secret", nil, cluster{corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "gone"}}},
			[]runtime.Object{pullSecret("regcred", corev1.SecretTypeDockerConfigJson, dockerConfigJSON(reg.Host, robot, wrong))}},
			"the registry refused access (401 Unauthorized) with the credentials of pull secret shop/regcred (pull secret shop/gone not found)"},
		{"a pull secret for another registry", nil, cluster{corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}},
			[]runtime.Object{pullSecret("regcred", corev1.SecretTypeDockerConfigJson, dockerConfigJSON("registry.example.com", robot, password))}},
			"the registry refused access (401 Unauthorized) without credentials: none found for " + reg.Host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolve(checkoutOn(t, reg, tc.cfg, tc.in), "v1")
			if err == nil {
				t.Fatal("resolved without good credentials")
			}
			if !strings.HasPrefix(err.Error(), reg.Host+"/shop/checkout:v1: "+tc.want) {
				t.Errorf("err = %v\nwant it to start with %s", err, tc.want)
			}
			assertNoSecret(t, err.Error(), password, wrong)
		})
	}
}

// A registry that echoes what it was sent in its error body does not get
// a password into the error text.
func TestResolveErrorsNeverShowASecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="echo"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"errors":[{"code":"DENIED","message":"user %s with password %s and header %s may not"}]}`,
			u, p, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	reg := &registrytest.Registry{Host: strings.TrimPrefix(srv.URL, "http://")}
	x := checkoutOn(t, reg, func(c *Config) { c.Registry = &RegistryAuth{Username: robot, Password: password} }, cluster{})
	_, err := resolve(x, "v1")
	if err == nil || !strings.Contains(err.Error(), "the registry refused access (403 Forbidden) with the credentials of kubernetes.registry") {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err.Error(), password)
}

func assertNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(robot + ":" + s))} {
			if strings.Contains(text, form) {
				t.Errorf("the text shows a secret: %s", text)
			}
		}
	}
}

func TestRegistryKeys(t *testing.T) {
	for key, want := range map[string][2]string{
		"registry.example.com":             {"registry.example.com", ""},
		"https://registry.example.com/":    {"registry.example.com", ""},
		"http://127.0.0.1:5000":            {"127.0.0.1:5000", ""},
		"https://index.docker.io/v1/":      {"index.docker.io", ""},
		"docker.io":                        {"index.docker.io", ""},
		"Registry.Example.com:5000/team/a": {"registry.example.com:5000", "team/a"},
	} {
		host, path := registryKey(key)
		if host != want[0] || path != want[1] {
			t.Errorf("registryKey(%q) = %q, %q; want %q, %q", key, host, path, want[0], want[1])
		}
	}
	k := &keychain{creds: []credential{
		{host: "registry.example.com", path: "team", source: "team"},
		{host: "registry.example.com", source: "any"},
	}}
	for image, want := range map[string]string{
		"registry.example.com/team/api":  "team",
		"registry.example.com/teamx/api": "any",
		"registry.example.com/other":     "any",
		"other.example.com/team/api":     "",
	} {
		repo, _ := name.NewRepository(image)
		got := ""
		if c := k.match(repo); c != nil {
			got = c.source
		}
		if got != want {
			t.Errorf("credential for %s: %q, want %q", image, got, want)
		}
	}
}

func TestRegistryCredentialsGoTogether(t *testing.T) {
	c := Config{Namespace: "shop", Workloads: []string{"deployment/api"}, Image: "registry.example.com/shop/api:{version}",
		Registry: &RegistryAuth{Username: robot}}
	err := c.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "registry: username and password go together") {
		t.Fatalf("Validate = %v", err)
	}
}
