package event

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// Audit is one Kubernetes audit event (audit.k8s.io/v1 Event) as the
// k8s_audit source's fields see it. V is the parsed event; it belongs to the
// parser of the batch it came from and is valid until that parser parses
// again, so an Event carrying an Audit must be evaluated before the next
// batch is read.
type Audit struct {
	V *fastjson.Value
}

// auditFields are the fields of Falco's k8saudit plugin (ka.*) and json
// plugin (jevt.*), with the plugins' semantics: a value that is not a JSON
// string is rendered as its JSON text; list fields compare with in (every
// element in the set) and intersects; a missing key is no value.
var auditFields = []Field{
	akey("ka.auditid", "The unique id of the audit event.", "auditID"),
	akey("ka.stage", "Stage of the request (RequestReceived, ResponseComplete...).", "stage"),
	akey("ka.auth.decision", "The authorization decision (annotation authorization.k8s.io/decision).", "annotations", "authorization.k8s.io/decision"),
	akey("ka.auth.reason", "The authorization reason (annotation authorization.k8s.io/reason).", "annotations", "authorization.k8s.io/reason"),
	akey("ka.user.name", "The user name performing the request.", "user", "username"),
	alist("ka.user.groups", "The groups the user belongs to.", akeyElems("user", "groups")),
	akey("ka.impuser.name", "The impersonated user name.", "impersonatedUser", "username"),
	akey("ka.verb", "The action being performed.", "verb"),
	akey("ka.uri", "The request URI as sent from client to server.", "requestURI"),
	{Name: "ka.uri.param", Type: FieldString, Arg: ArgKeyRequired, Source: SourceK8sAudit,
		Doc: "The value of a query parameter of the URI: with uri=/foo?key=val, ka.uri.param[key] is val.",
		Extract: func(_ *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			v := auditGet(ev, "requestURI")
			if v == nil {
				return none()
			}
			u, err := url.Parse(string(v.GetStringBytes()))
			if err != nil {
				return none()
			}
			q, err := url.ParseQuery(u.RawQuery)
			if err != nil || len(q[a.Key]) == 0 {
				return none()
			}
			return sv(q[a.Key][0])
		}},
	akey("ka.target.name", "The target object name.", "objectRef", "name"),
	akey("ka.target.namespace", "The target object namespace.", "objectRef", "namespace"),
	akey("ka.target.resource", "The target object resource.", "objectRef", "resource"),
	akey("ka.target.subresource", "The target object subresource.", "objectRef", "subresource"),
	alist("ka.req.binding.subjects", "When the request object is a (cluster) role binding, its subjects.", akeyElems("requestObject", "subjects")),
	akey("ka.req.binding.role", "When the request object is a (cluster) role binding, the role it binds.", "requestObject", "roleRef", "name"),
	{Name: "ka.req.binding.subject.has_name", Type: FieldString, Arg: ArgKeyRequired, Source: SourceK8sAudit,
		Doc:     "Deprecated: always true, as the plugin returns.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return sv("true") }},
	akey("ka.req.configmap.name", "When the request object is a configmap, its name.", "objectRef", "name"),
	akey("ka.req.configmap.obj", "When the request object is a configmap, its data.", "requestObject", "data"),
	alist("ka.req.pod.containers.image", "When the request object is a pod, the containers' images.", podElems("containers", "image")),
	{Name: "ka.req.container.image", Type: FieldString, Source: SourceK8sAudit, Doc: "Deprecated: the image of the first container.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			return podElems("containers", "image")(c, ev, a, 0)
		}},
	alist("ka.req.pod.containers.image.repository", "The containers' images without tag or digest.", repoElems("containers")),
	{Name: "ka.req.container.image.repository", Type: FieldString, Source: SourceK8sAudit, Doc: "Deprecated: the repository of the first container.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) { return repoElems("containers")(c, ev, a, 0) }},
	alist("ka.req.pod.initContainers.image", "When the request object is a pod, the init containers' images.", podElems("initContainers", "image")),
	alist("ka.req.pod.initContainers.image.repository", "The init containers' images without tag or digest.", repoElems("initContainers")),
	alist("ka.req.pod.ephemeralContainers.image", "When the request object is a pod, the ephemeral containers' images.", podElems("ephemeralContainers", "image")),
	alist("ka.req.pod.ephemeralContainers.image.repository", "The ephemeral containers' images without tag or digest.", repoElems("ephemeralContainers")),
	akey("ka.req.pod.host_ipc", "When the request object is a pod, its hostIPC flag.", "requestObject", "spec", "hostIPC"),
	akey("ka.req.pod.host_network", "When the request object is a pod, its hostNetwork flag.", "requestObject", "spec", "hostNetwork"),
	akey("ka.req.container.host_network", "Deprecated alias of ka.req.pod.host_network.", "requestObject", "spec", "hostNetwork"),
	akey("ka.req.pod.host_pid", "When the request object is a pod, its hostPID flag.", "requestObject", "spec", "hostPID"),
	alist("ka.req.pod.containers.host_port", "When the request object is a pod, every container port's hostPort (containerPort when it has none).", hostPortElems),
	alist("ka.req.pod.containers.privileged", "The containers' securityContext.privileged values (containers without one are skipped).", podElems("containers", "securityContext", "privileged")),
	alist("ka.req.pod.initContainers.privileged", "The init containers' securityContext.privileged values.", podElems("initContainers", "securityContext", "privileged")),
	alist("ka.req.pod.ephemeralContainers.privileged", "The ephemeral containers' securityContext.privileged values.", podElems("ephemeralContainers", "securityContext", "privileged")),
	{Name: "ka.req.container.privileged", Type: FieldString, Source: SourceK8sAudit, Doc: "Deprecated: true when any container is privileged.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			cs := auditGet(ev, "requestObject", "spec", "containers")
			if cs == nil {
				return none()
			}
			for _, x := range cs.GetArray() {
				if x.GetBool("securityContext", "privileged") {
					return sv("true")
				}
			}
			return sv("false")
		}},
	alist("ka.req.pod.containers.allow_privilege_escalation", "The containers' allowPrivilegeEscalation values.", podElems("containers", "securityContext", "allowPrivilegeEscalation")),
	alist("ka.req.pod.containers.read_only_fs", "The containers' readOnlyRootFilesystem values.", podElems("containers", "securityContext", "readOnlyRootFilesystem")),
	akey("ka.req.pod.run_as_user", "The pod's securityContext.runAsUser.", "requestObject", "spec", "securityContext", "runAsUser"),
	alist("ka.req.pod.containers.run_as_user", "The containers' runAsUser values.", podElems("containers", "securityContext", "runAsUser")),
	alist("ka.req.pod.containers.eff_run_as_user", "The uid each container starts with: its runAsUser, else the pod's, else 0.", effElems("runAsUser")),
	akey("ka.req.pod.run_as_group", "The pod's securityContext.runAsGroup.", "requestObject", "spec", "securityContext", "runAsGroup"),
	alist("ka.req.pod.containers.run_as_group", "The containers' runAsGroup values.", podElems("containers", "securityContext", "runAsGroup")),
	alist("ka.req.pod.containers.eff_run_as_group", "The gid each container starts with: its runAsGroup, else the pod's, else 0.", effElems("runAsGroup")),
	alist("ka.req.pod.containers.proc_mount", "The containers' procMount values.", podElems("containers", "securityContext", "procMount")),
	alist("ka.req.role.rules", "When the request object is a (cluster) role, its rules.", akeyElems("requestObject", "rules")),
	alist("ka.req.role.rules.apiGroups", "The api groups of the role's rules.", ruleElems("apiGroups")),
	alist("ka.req.role.rules.nonResourceURLs", "The non-resource URLs of the role's rules.", ruleElems("nonResourceURLs")),
	alist("ka.req.role.rules.verbs", "The verbs of the role's rules.", ruleElems("verbs")),
	alist("ka.req.role.rules.resources", "The resources of the role's rules.", ruleElems("resources")),
	akey("ka.req.pod.fs_group", "The pod's securityContext.fsGroup.", "requestObject", "spec", "securityContext", "fsGroup"),
	alist("ka.req.pod.supplemental_groups", "The pod's securityContext.supplementalGroups.", akeyElems("requestObject", "spec", "securityContext", "supplementalGroups")),
	alist("ka.req.pod.containers.add_capabilities", "The capabilities the containers add.", capElems),
	akey("ka.req.service.type", "When the request object is a service, its type.", "requestObject", "spec", "type"),
	alist("ka.req.service.ports", "When the request object is a service, its ports.", akeyElems("requestObject", "spec", "ports")),
	alist("ka.req.pod.volumes.hostpath", "When the request object is a pod, its volumes' hostPath paths.", volElems("hostPath", "path")),
	{Name: "ka.req.volume.hostpath", Type: FieldString, Arg: ArgKeyRequired, Source: SourceK8sAudit,
		Doc: "Deprecated: true when a volume's hostPath is the argument (a trailing * matches a prefix).",
		Extract: func(_ *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			vs := auditGet(ev, "requestObject", "spec", "volumes")
			if vs == nil {
				return none()
			}
			prefix, isPrefix := strings.CutSuffix(a.Key, "*")
			for _, v := range vs.GetArray() {
				p := string(v.GetStringBytes("hostPath", "path"))
				if p == a.Key || (isPrefix && strings.HasPrefix(p, prefix)) {
					return sv("true")
				}
			}
			return sv("false")
		}},
	alist("ka.req.pod.volumes.flexvolume_driver", "The pod's flexVolume drivers.", volElems("flexVolume", "driver")),
	alist("ka.req.pod.volumes.volume_type", "The pod's volume types (the keys of each volume but name).", volTypeElems),
	akey("ka.resp.name", "The response object name.", "responseObject", "metadata", "name"),
	akey("ka.response.code", "The response code.", "responseStatus", "code"),
	akey("ka.response.reason", "The response reason (usually present only for failures).", "responseStatus", "reason"),
	akey("ka.useragent", "The user agent of the client.", "userAgent"),

	// json plugin
	{Name: "jevt.value", Type: FieldString, Arg: ArgKeyRequired, Source: SourceK8sAudit,
		Doc: "The value at a JSON pointer (RFC 6901), e.g. jevt.value[/user/username]; JSON text when not a string.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if ev.Audit == nil || ev.Audit.V == nil {
				return none()
			}
			return jsonText(c, jsonPointer(ev.Audit.V, a.Key))
		}},
	{Name: "jevt.obj", Type: FieldString, Source: SourceK8sAudit, Doc: "The whole audit event as JSON text.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Audit == nil {
				return none()
			}
			return jsonText(c, ev.Audit.V)
		}},
	{Name: "jevt.rawtime", Type: FieldString, Source: SourceK8sAudit, Doc: "The event time, ns since the epoch, as a decimal string.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			s := c.mark()
			c.buf = strconv.AppendInt(c.buf, ev.Time, 10)
			return sv(c.str(s))
		}},
}

func auditGet(ev *Event, keys ...string) *fastjson.Value {
	if ev.Audit == nil || ev.Audit.V == nil {
		return nil
	}
	return ev.Audit.V.Get(keys...)
}

// jsonText is a JSON value as the plugins render it: a string as itself,
// anything else as JSON text; nil is no value.
func jsonText(c *FieldCtx, v *fastjson.Value) (Value, bool) {
	if v == nil {
		return none()
	}
	if v.Type() == fastjson.TypeString {
		return Value{Str: unsafeString(v.GetStringBytes())}, true
	}
	s := c.mark()
	c.buf = v.MarshalTo(c.buf)
	return sv(c.str(s))
}

func akey(name, doc string, keys ...string) Field {
	return Field{Name: name, Type: FieldString, Source: SourceK8sAudit, Doc: doc,
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return jsonText(c, auditGet(ev, keys...)) }}
}

// alist makes a list field: in outputs "(a,b)", in filters element by
// element (optionally one element: ka.req.pod.containers.image[0]).
func alist(name, doc string, elem ElemExtractor) Field {
	return Field{Name: name, Type: FieldString, Arg: ArgIndexOptional, Multi: MultiList, Source: SourceK8sAudit, Doc: doc,
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if ev.Audit == nil {
				return none()
			}
			if a.Has {
				return elem(c, ev, a, a.Index)
			}
			if _, ok := elem(c, ev, a, 0); !ok && !listPresent(elem, c, ev, a) {
				return none()
			}
			s := c.mark()
			c.buf = append(c.buf, '(')
			for i := 0; ; i++ {
				pos := len(c.buf)
				if i > 0 {
					c.buf = append(c.buf, ',')
				}
				mid := len(c.buf)
				v, ok := elem(c, ev, a, i)
				if !ok {
					c.buf = c.buf[:pos]
					break
				}
				if len(c.buf) == mid { // not rendered into the scratch buffer by elem
					c.buf = append(c.buf, v.Str...)
				}
			}
			c.buf = append(c.buf, ')')
			return sv(c.str(s))
		},
		Elem: func(c *FieldCtx, ev *Event, a *FieldArg, i int) (Value, bool) {
			if a.Has {
				if i > 0 {
					return none()
				}
				return elem(c, ev, a, a.Index)
			}
			return elem(c, ev, a, i)
		}}
}

// listPresent: an empty list is a value "()"; the elem extractors return
// ok=false both for an empty and a missing list, so ask with index -1.
func listPresent(elem ElemExtractor, c *FieldCtx, ev *Event, a *FieldArg) bool {
	_, ok := elem(c, ev, a, -1)
	return ok
}

// auditArray returns the members of the array at path; ok is false when
// there is none.
func auditArray(ev *Event, path ...string) (xs []*fastjson.Value, ok bool) {
	arr := auditGet(ev, path...)
	if arr == nil || arr.Type() != fastjson.TypeArray {
		return nil, false
	}
	return arr.GetArray(), true
}

// itemFunc returns the j-th item of one array member (j = 0, 1, ...):
// more is false past the last; a nil v is skipped.
type itemFunc func(x *fastjson.Value, j int) (v *fastjson.Value, more bool)

// walkElems is the one walk over a list of an audit event: the array at
// path, each member's items in order; element i is the i-th item, rendered
// by jsonText. Index -1 asks whether the array exists.
func walkElems(item itemFunc, path ...string) ElemExtractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg, i int) (Value, bool) {
		xs, ok := auditArray(ev, path...)
		if !ok || i < 0 {
			return Value{}, ok
		}
		n := 0
		for _, x := range xs {
			for j := 0; ; j++ {
				v, more := item(x, j)
				if !more {
					break
				}
				if v == nil {
					continue
				}
				if n == i {
					return jsonText(c, v)
				}
				n++
			}
		}
		return none()
	}
}

// itself: the member is the item.
func itself(x *fastjson.Value, j int) (*fastjson.Value, bool) { return x, j == 0 }

// at: the member's value at keys is the item (members without one are
// skipped).
func at(keys ...string) itemFunc {
	return func(x *fastjson.Value, j int) (*fastjson.Value, bool) { return x.Get(keys...), j == 0 }
}

// each: the members of the member's array at keys are the items.
func each(keys ...string) itemFunc {
	return func(x *fastjson.Value, j int) (*fastjson.Value, bool) {
		xs := x.GetArray(keys...)
		if j >= len(xs) {
			return nil, false
		}
		return xs[j], true
	}
}

// akeyElems: the elements of the array at keys.
func akeyElems(keys ...string) ElemExtractor { return walkElems(itself, keys...) }

// podElems: for each container of spec.<list> (that has the value), the
// value at keys.
func podElems(list string, keys ...string) ElemExtractor {
	return walkElems(at(keys...), "requestObject", "spec", list)
}

func repoElems(list string) ElemExtractor {
	img := podElems(list, "image")
	return func(c *FieldCtx, ev *Event, a *FieldArg, i int) (Value, bool) {
		v, ok := img(c, ev, a, i)
		if !ok || i < 0 {
			return v, ok
		}
		s := v.Str
		if j := strings.IndexByte(s, ':'); j >= 0 {
			s = s[:j]
		}
		if j := strings.IndexByte(s, '@'); j >= 0 {
			s = s[:j]
		}
		return sv(s)
	}
}

func effElems(key string) ElemExtractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg, i int) (Value, bool) {
		cs, ok := auditArray(ev, "requestObject", "spec", "containers")
		if !ok || i < 0 {
			return Value{}, ok
		}
		if i >= len(cs) {
			return none()
		}
		if v := cs[i].Get("securityContext", key); v != nil {
			return jsonText(c, v)
		}
		if v := auditGet(ev, "requestObject", "spec", "securityContext", key); v != nil {
			return jsonText(c, v)
		}
		return sv("0")
	}
}

func ruleElems(key string) ElemExtractor { return walkElems(each(key), "requestObject", "rules") }

func volElems(keys ...string) ElemExtractor {
	return walkElems(at(keys...), "requestObject", "spec", "volumes")
}

func volTypeElems(c *FieldCtx, ev *Event, _ *FieldArg, i int) (Value, bool) {
	vols, ok := auditArray(ev, "requestObject", "spec", "volumes")
	if !ok || i < 0 {
		return Value{}, ok
	}
	n := 0
	var out Value
	found := false
	for _, v := range vols {
		o, err := v.Object()
		if err != nil {
			continue
		}
		o.Visit(func(k []byte, _ *fastjson.Value) {
			if string(k) == "name" || found {
				return
			}
			if n == i {
				out, found = Value{Str: unsafeString(k)}, true
			}
			n++
		})
		if found {
			return out, true
		}
	}
	return none()
}

// hostPortElems: every container port's hostPort (containerPort when it
// has none).
var hostPortElems = walkElems(func(ct *fastjson.Value, j int) (*fastjson.Value, bool) {
	ports := ct.GetArray("ports")
	if j >= len(ports) {
		return nil, false
	}
	if v := ports[j].Get("hostPort"); v != nil {
		return v, true
	}
	return ports[j].Get("containerPort"), true
}, "requestObject", "spec", "containers")

var capElems = walkElems(each("securityContext", "capabilities", "add"), "requestObject", "spec", "containers")

// jsonPointer resolves an RFC 6901 pointer ("" is the whole document)
// without allocating (but for tokens with ~ escapes).
func jsonPointer(v *fastjson.Value, ptr string) *fastjson.Value {
	if ptr == "" {
		return v
	}
	if ptr[0] != '/' {
		return nil
	}
	rest := ptr[1:]
	for v != nil {
		tok := rest
		i := strings.IndexByte(rest, '/')
		if i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		}
		if strings.IndexByte(tok, '~') >= 0 {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		}
		v = v.Get(tok) // fastjson indexes arrays by decimal keys too
		if i < 0 {
			return v
		}
	}
	return nil
}
