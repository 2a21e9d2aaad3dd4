package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registryTimeout bounds one digest look-up: a registry that does not
// answer fails the run before approval instead of holding it.
const registryTimeout = 30 * time.Second

// reference returns the image reference of version, as the template
// spells it.
func (c *Config) reference(version string) (name.Reference, error) {
	return name.ParseReference(c.image(version))
}

// repository returns the image's repository, the same for every version
// when the template puts {version} in the tag.
func (c *Config) repository() (name.Repository, error) {
	ref, err := c.reference("v0")
	if err != nil {
		return name.Repository{}, err
	}
	return ref.Context(), nil
}

// pinnedImage reports whether image is pinned by digest to the app's
// repository (registry/repo@sha256:…), as Shipmate deploys it.
func (c *Config) pinnedImage(image string) bool {
	d, err := name.NewDigest(image)
	if err != nil {
		return false
	}
	repo, err := c.repository()
	return err == nil && d.Context().Name() == repo.Name()
}

// digestOf asks the registry for the digest the tag ref points at now, and
// returns ref pinned to it: registry/repo@sha256:…. Its errors say what a
// user can act on and never hold a credential.
func digestOf(ctx context.Context, ref name.Reference, keys *keychain) (name.Digest, error) {
	if d, ok := ref.(name.Digest); ok {
		return d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keys), remote.WithUserAgent("shipmate")}
	// HEAD costs no pull quota where registries count them; a registry
	// that answers it badly gets a GET, whose error body says more.
	desc, err := remote.Head(ref, opts...)
	if err == nil {
		return ref.Context().Digest(desc.Digest.String()), nil
	}
	if ctx.Err() == nil && !unreachable(err) {
		got, gerr := remote.Get(ref, opts...)
		if gerr == nil {
			return ref.Context().Digest(got.Digest.String()), nil
		}
		err = gerr
	}
	return name.Digest{}, keys.redact(registryError(ref, keys, err))
}

// registryError words a failed look-up of ref.
func registryError(ref name.Reference, keys *keychain, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
			return fmt.Errorf("%s not found in the registry", ref)
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden ||
			hasCode(terr, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return fmt.Errorf("%s: the registry refused access (%d %s) %s", ref, terr.StatusCode,
				http.StatusText(terr.StatusCode), keys.describe(ref.Context()))
		}
		return fmt.Errorf("%s: the registry answered %v", ref, terr)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: the registry %s did not answer within %s", ref, ref.Context().RegistryStr(), registryTimeout)
	case errors.Is(err, context.Canceled):
		return err
	case unreachable(err):
		return fmt.Errorf("%s: cannot reach the registry %s: %v", ref, ref.Context().RegistryStr(), err)
	}
	return fmt.Errorf("%s: %v", ref, err)
}

// unreachable reports whether err is a failure to talk to the registry at
// all (no answer, refused, a name that does not resolve), as opposed to an
// answer.
func unreachable(err error) bool {
	var uerr *url.Error
	var nerr net.Error
	return errors.As(err, &uerr) || errors.As(err, &nerr)
}

func hasCode(e *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range e.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// redact replaces every secret of the keychain found in err's text, so
// that nothing a registry or a library echoes can leak one.
func (k *keychain) redact(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	clean := text
	for _, s := range k.secrets() {
		clean = strings.ReplaceAll(clean, s, "[redacted]")
	}
	if clean == text {
		return err
	}
	return errors.New(clean)
}
