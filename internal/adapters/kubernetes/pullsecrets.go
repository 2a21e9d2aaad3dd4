package kubernetes

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// credential is one registry login found in the configuration or a pull
// secret. Only source may be shown: the rest is secret.
type credential struct {
	host   string // registry host[:port], as name.Registry spells it
	path   string // repository prefix it is limited to ("" for any)
	auth   authn.AuthConfig
	source string // "kubernetes.registry", "pull secret shop/regcred"
}

// keychain implements authn.Keychain: a registry host maps to the first
// credential found for it, anonymous when there is none. notes say which
// pull secrets could not be read, for the error when a registry refuses.
type keychain struct {
	creds []credential
	notes []string
}

var _ authn.Keychain = (*keychain)(nil)

// Resolve implements authn.Keychain.
func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if c := k.match(r); c != nil {
		return authn.FromConfig(c.auth), nil
	}
	return authn.Anonymous, nil
}

func (k *keychain) match(r authn.Resource) *credential {
	host := r.RegistryStr()
	repo := strings.TrimPrefix(strings.TrimPrefix(r.String(), host), "/")
	for i := range k.creds {
		c := &k.creds[i]
		if strings.EqualFold(c.host, host) && (c.path == "" || repo == c.path || strings.HasPrefix(repo, c.path+"/")) {
			return c
		}
	}
	return nil
}

// describe says which credentials were offered for repo, for an error
// text: their sources, never their content.
func (k *keychain) describe(repo name.Repository) string {
	var out string
	if c := k.match(repo); c != nil {
		out = "with the credentials of " + c.source
	} else {
		out = fmt.Sprintf("without credentials: none found for %s in kubernetes.registry or the workloads' pull secrets", repo.RegistryStr())
	}
	if len(k.notes) > 0 {
		out += " (" + strings.Join(k.notes, "; ") + ")"
	}
	return out
}

// secrets lists every secret value the keychain holds, for redaction.
func (k *keychain) secrets() []string {
	var out []string
	for _, c := range k.creds {
		for _, s := range []string{c.auth.Password, c.auth.Auth, c.auth.IdentityToken, c.auth.RegistryToken} {
			if len(s) >= 4 { // shorter ones would blank out ordinary words
				out = append(out, s)
			}
		}
	}
	return out
}

// keychain gathers the credentials for the app's image in namespace ns:
// the configured ones first, then those of the pull secrets the workloads'
// pod templates and their service accounts name, as the kubelet would use
// them.
func (x *Executor) keychain(ctx context.Context, ns string) (*keychain, error) {
	k := &keychain{}
	if r := x.cfg.Registry; r != nil {
		repo, err := x.cfg.repository()
		if err != nil {
			return nil, err
		}
		k.creds = append(k.creds, credential{host: repo.RegistryStr(), source: "kubernetes.registry",
			auth: authn.AuthConfig{Username: r.Username, Password: r.Password}})
	}
	var secrets, accounts []string
	for _, wl := range x.workloads {
		tmpl, _, err := x.template(ctx, ns, wl)
		if err != nil {
			return nil, notFound(wl, err)
		}
		for _, ref := range tmpl.Spec.ImagePullSecrets {
			secrets = appendNew(secrets, ref.Name)
		}
		sa := tmpl.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		accounts = appendNew(accounts, sa)
	}
	client, err := x.cluster.api()
	if err != nil {
		return nil, err
	}
	for _, name := range accounts {
		sa, err := client.serviceAccount(ctx, ns, name)
		switch {
		case apierrors.IsNotFound(err):
			continue // the kubelet pulls without its secrets too
		case err != nil:
			k.notes = append(k.notes, fmt.Sprintf("service account %s/%s not readable: %s", ns, name, apierrors.ReasonForError(err)))
			continue
		}
		for _, ref := range sa.ImagePullSecrets {
			secrets = appendNew(secrets, ref.Name)
		}
	}
	for _, name := range secrets {
		creds, note := readPullSecret(ctx, client, ns, name)
		k.creds = append(k.creds, creds...)
		if note != "" {
			k.notes = append(k.notes, note)
		}
	}
	return k, nil
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// readPullSecret returns the credentials of one pull secret, or a note
// saying why there are none.
func readPullSecret(ctx context.Context, client *Client, ns, name string) ([]credential, string) {
	source := fmt.Sprintf("pull secret %s/%s", ns, name)
	s, err := client.secret(ctx, ns, name)
	switch {
	case apierrors.IsNotFound(err):
		return nil, source + " not found"
	case err != nil:
		return nil, fmt.Sprintf("%s not readable: %s", source, apierrors.ReasonForError(err))
	}
	var auths map[string]dockerAuth
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerAuth `json:"auths"`
		}
		// The decoder's own errors are not shown: they may quote the data.
		if json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg) != nil {
			return nil, fmt.Sprintf("%s: %s is not valid JSON", source, corev1.DockerConfigJsonKey)
		}
		auths = cfg.Auths
	case corev1.SecretTypeDockercfg:
		if json.Unmarshal(s.Data[corev1.DockerConfigKey], &auths) != nil {
			return nil, fmt.Sprintf("%s: %s is not valid JSON", source, corev1.DockerConfigKey)
		}
	default:
		return nil, fmt.Sprintf("%s has type %s, not %s", source, s.Type, corev1.SecretTypeDockerConfigJson)
	}
	keys := make([]string, 0, len(auths))
	for key := range auths {
		keys = append(keys, key)
	}
	slices.Sort(keys) // the same secret gives the same order every time
	var out []credential
	for _, key := range keys {
		a, ok := auths[key].config()
		if !ok {
			return nil, fmt.Sprintf("%s: the auth of %s is not base64 of user:password", source, key)
		}
		host, path := registryKey(key)
		out = append(out, credential{host: host, path: path, auth: a, source: source})
	}
	return out, ""
}

// dockerAuth is one entry of a docker config file.
type dockerAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// config returns the entry as go-containerregistry's AuthConfig, with
// "auth" (base64 of user:password) split as the kubelet does.
func (d dockerAuth) config() (authn.AuthConfig, bool) {
	a := authn.AuthConfig{Username: d.Username, Password: d.Password,
		IdentityToken: d.IdentityToken, RegistryToken: d.RegistryToken}
	if d.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(d.Auth)
		if err != nil {
			return a, false
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return a, false
		}
		a.Username, a.Password = user, pass
	}
	return a, true
}

// registryKey splits a docker config key ("registry.example.com",
// "https://index.docker.io/v1/", "registry.example.com:5000/team") into
// the host as go-containerregistry names registries and a repository
// prefix.
func registryKey(key string) (host, path string) {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, path, _ = strings.Cut(strings.TrimSuffix(key, "/"), "/")
	host = strings.ToLower(host)
	switch path {
	case "v1", "v2": // API paths of old config files, not repositories
		path = ""
	}
	switch host {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		host = name.DefaultRegistry
	}
	return host, path
}
