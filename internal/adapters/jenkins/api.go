package jenkins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The requests Shipmate makes, one function each. Each asks with a tree
// query for only the fields it reads.

const jsonLimit = 8 << 20

func (c *Client) getJSON(ctx context.Context, path string, tree string, v any) error {
	res, err := c.call(ctx, http.MethodGet, path+"/api/json", url.Values{"tree": {tree}}, nil, jsonLimit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res.body, v); err != nil {
		return fmt.Errorf("Jenkins at %s answered %s with something other than its JSON: %v", c.base, path, err)
	}
	return nil
}

// jobInfo is what Shipmate reads of a job.
type jobInfo struct {
	Class     string `json:"_class"`
	URL       string `json:"url"`
	Buildable *bool  `json:"buildable"` // absent for folders
	InQueue   bool   `json:"inQueue"`
	QueueItem *struct {
		ID  int64  `json:"id"`
		Why string `json:"why"`
	} `json:"queueItem"`
	Property []struct {
		ParameterDefinitions []struct {
			Name string `json:"name"`
		} `json:"parameterDefinitions"`
	} `json:"property"`
}

// params returns the names of the parameters the job declares.
func (j *jobInfo) params() []string {
	var names []string
	for _, p := range j.Property {
		for _, d := range p.ParameterDefinitions {
			names = append(names, d.Name)
		}
	}
	return names
}

// errNoJob is returned for a job Jenkins does not have.
type errNoJob struct{ name string }

func (e *errNoJob) Error() string { return "Jenkins has no job " + e.name }

func (c *Client) job(ctx context.Context, name, path string) (*jobInfo, error) {
	var j jobInfo
	err := c.getJSON(ctx, path, "url,buildable,inQueue,queueItem[id,why],property[parameterDefinitions[name]]", &j)
	if hasStatus(err, http.StatusNotFound) {
		return nil, &errNoJob{name}
	}
	return &j, err
}

var queueItemRE = regexp.MustCompile(`/queue/item/(\d+)/?$`)

// errNotQueued is Jenkins accepting a build request without queueing a
// build: it answers with a redirect to the job instead of a queue item.
var errNotQueued = errors.New("Jenkins queued no build")

// trigger asks Jenkins to build the job and returns the queue item's id.
// A job that declares parameters is built with buildWithParameters (which
// fills in the defaults of those not given); one without parameters, and
// none given, with /build: Jenkins refuses buildWithParameters for it.
func (c *Client) trigger(ctx context.Context, name, path string, parameterized bool, params map[string]string) (int64, error) {
	endpoint := "/build"
	form := url.Values{}
	if parameterized || len(params) > 0 {
		endpoint = "/buildWithParameters"
	}
	for k, v := range params {
		form.Set(k, v)
	}
	res, err := c.call(ctx, http.MethodPost, path+endpoint, nil, form, 64<<10)
	var se *statusError
	if errors.As(err, &se) {
		switch se.code {
		case http.StatusBadRequest, http.StatusInternalServerError:
			// What Jenkins answers for a job that declares no parameters
			// ("This build is not parameterized!") or a value it rejects
			// ("Illegal choice for parameter VERSION").
			what := name
			if len(params) > 0 {
				what += " with parameters " + strings.Join(slices.Sorted(maps.Keys(params)), ", ")
			}
			if se.msg == "" {
				se.msg = fmt.Sprintf("%d %s", se.code, http.StatusText(se.code))
			}
			return 0, fmt.Errorf("Jenkins refused to start %s: %s", what, se.msg)
		case http.StatusNotFound:
			return 0, &errNoJob{name}
		case http.StatusConflict:
			return 0, fmt.Errorf("Jenkins will not start %s (is it disabled?): %s", name, se.msg)
		}
	}
	if err != nil {
		return 0, err
	}
	loc := res.header.Get("Location")
	if u, err := url.Parse(loc); err == nil {
		if m := queueItemRE.FindStringSubmatch(u.Path); m != nil {
			id, err := strconv.ParseInt(m[1], 10, 64)
			if err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, fmt.Errorf("%w of %s: it answered %d with no queue item (Location %q)", errNotQueued, name, res.status, loc)
}

// queueItem is a queue item, waiting or (for about five minutes) left.
type queueItem struct {
	ID         int64  `json:"id"`
	Why        string `json:"why"`
	Blocked    bool   `json:"blocked"`
	Buildable  bool   `json:"buildable"`
	Stuck      bool   `json:"stuck"`
	Cancelled  bool   `json:"cancelled"`
	Executable *struct {
		Number int64  `json:"number"`
		URL    string `json:"url"`
	} `json:"executable"`
}

func (c *Client) queueItem(ctx context.Context, id int64) (*queueItem, error) {
	var it queueItem
	err := c.getJSON(ctx, "/queue/item/"+strconv.FormatInt(id, 10), "id,why,blocked,buildable,stuck,cancelled,executable[number,url]", &it)
	return &it, err
}

// cancelQueueItem removes an item from the queue; Jenkins answers 204 (or
// a redirect, in older versions).
func (c *Client) cancelQueueItem(ctx context.Context, id int64) error {
	_, err := c.call(ctx, http.MethodPost, "/queue/cancelItem", url.Values{"id": {strconv.FormatInt(id, 10)}}, nil, 64<<10)
	return err
}

// buildInfo is what Shipmate reads of a build.
type buildInfo struct {
	Number            int64  `json:"number"`
	URL               string `json:"url"`
	Building          bool   `json:"building"`
	Result            string `json:"result"` // "" (null) while running
	EstimatedDuration int64  `json:"estimatedDuration"`
	Duration          int64  `json:"duration"`
	Timestamp         int64  `json:"timestamp"`
	Executor          *struct {
		Progress *int `json:"progress"`
	} `json:"executor"`
}

func buildPath(jobPath string, n int64) string { return jobPath + "/" + strconv.FormatInt(n, 10) }

func (c *Client) build(ctx context.Context, jobPath string, n int64) (*buildInfo, error) {
	var b buildInfo
	err := c.getJSON(ctx, buildPath(jobPath, n), "number,url,building,result,estimatedDuration,duration,timestamp,executor[progress]", &b)
	return &b, err
}

// stopBuild aborts a running build; Jenkins answers with a redirect to it.
func (c *Client) stopBuild(ctx context.Context, jobPath string, n int64) error {
	_, err := c.call(ctx, http.MethodPost, buildPath(jobPath, n)+"/stop", nil, nil, 64<<10)
	return err
}

// consoleLimit bounds one read of the console; the rest of a longer chunk
// is skipped.
const consoleLimit = 4 << 20

// chunk is one read of a build's console.
type chunk struct {
	text []byte
	next int64 // the offset to read from next time
	more bool  // the build may still write
	cut  bool  // text is not all there was: the rest was skipped
}

// console reads a build's console from byte start on.
func (c *Client) console(ctx context.Context, jobPath string, n, start int64) (*chunk, error) {
	res, err := c.call(ctx, http.MethodGet, buildPath(jobPath, n)+"/logText/progressiveText",
		url.Values{"start": {strconv.FormatInt(start, 10)}}, nil, consoleLimit)
	if err != nil {
		return nil, err
	}
	ch := &chunk{text: res.body, cut: res.cut, more: strings.EqualFold(res.header.Get("X-More-Data"), "true")}
	ch.next, err = strconv.ParseInt(res.header.Get("X-Text-Size"), 10, 64)
	if err != nil {
		if res.cut {
			return nil, fmt.Errorf("Jenkins sent a console chunk over %d bytes without X-Text-Size", consoleLimit)
		}
		ch.next = start + int64(len(res.body))
	}
	return ch, nil
}

// jobBuild is one build in a job's recent builds, as the checker reads it.
type jobBuild struct {
	Number      int64  `json:"number"`
	Result      string `json:"result"`
	Building    bool   `json:"building"`
	DisplayName string `json:"displayName"`
	URL         string `json:"url"`
	Actions     []struct {
		Parameters []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		} `json:"parameters"`
	} `json:"actions"`
	Artifacts []struct {
		FileName     string `json:"fileName"`
		RelativePath string `json:"relativePath"`
	} `json:"artifacts"`
}

// recentBuilds is how many builds the checker looks through.
const recentBuilds = 50

func (c *Client) recentBuilds(ctx context.Context, name, path string) (string, []jobBuild, error) {
	var j struct {
		URL    string     `json:"url"`
		Builds []jobBuild `json:"builds"`
	}
	tree := fmt.Sprintf("url,builds[number,result,building,displayName,url,actions[parameters[name,value]],artifacts[fileName,relativePath]]{0,%d}", recentBuilds)
	err := c.getJSON(ctx, path, tree, &j)
	if hasStatus(err, http.StatusNotFound) {
		return "", nil, &errNoJob{name}
	}
	return j.URL, j.Builds, err
}
