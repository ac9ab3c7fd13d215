package deploy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/factorial-service/factorial/events"
)

const (
	chartDir    = "helm/factorial"
	releaseName = "factorial"
	namespace   = "factorial"
	kubeVersion = "v1.31.0"
)

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) the chart writes, for
// a strict decoding (KEDA's Go module is too large to import for one type).
type scaledObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount int32 `json:"minReplicaCount"`
		MaxReplicaCount int32 `json:"maxReplicaCount"`
		PollingInterval int32 `json:"pollingInterval"`
		CooldownPeriod  int32 `json:"cooldownPeriod"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// rendered is the chart rendered with one set of values, every manifest decoded strictly
// into its Kubernetes type.
type rendered struct {
	values       chartutil.Values
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	accounts     map[string]*corev1.ServiceAccount
	ingresses    map[string]*networkingv1.Ingress
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs         map[string]*policyv1.PodDisruptionBudget
	jobs         map[string]*batchv1.Job
	monitors     map[string]*monitoringv1.ServiceMonitor
	scaled       map[string]*scaledObject
	hookWeights  map[string]int // kind/name of each hook to its weight
	hookEvents   map[string][]string
	allLabels    map[string]map[string]string // kind/name to labels
	existingSecr string
}

// renderChart renders the chart as `helm template` would with the values of valuesFile
// ("" for the defaults) and decodes every manifest.
func renderChart(t *testing.T, ch *chart.Chart, valuesFile string) *rendered {
	t.Helper()
	vals := map[string]any{}
	if valuesFile != "" {
		v, err := chartutil.ReadValuesFile(valuesFile)
		if err != nil {
			t.Fatal(err)
		}
		vals = v
	}
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps.KubeVersion = *kv
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, kubeVersion) {
		t.Fatalf("the chart's kubeVersion %q does not accept %s", ch.Metadata.KubeVersion, kubeVersion)
	}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name) // printed after install, not applied (as helm does)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		t.Fatalf("sort manifests: %v", err)
	}
	r := &rendered{
		values:      top["Values"].(chartutil.Values),
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		accounts: map[string]*corev1.ServiceAccount{}, ingresses: map[string]*networkingv1.Ingress{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		jobs: map[string]*batchv1.Job{}, monitors: map[string]*monitoringv1.ServiceMonitor{},
		scaled: map[string]*scaledObject{}, hookWeights: map[string]int{}, hookEvents: map[string][]string{},
		allLabels: map[string]map[string]string{},
	}
	r.existingSecr, _ = r.values["existingSecret"].(string)
	docs := map[string]string{}
	for _, m := range manifests {
		docs[m.Name+"#"+m.Head.Kind+"/"+m.Head.Metadata.Name] = m.Content
	}
	for _, h := range hooks {
		key := h.Kind + "/" + h.Name
		docs[h.Path+"#"+key] = h.Manifest
		r.hookWeights[key] = h.Weight
		for _, e := range h.Events {
			r.hookEvents[key] = append(r.hookEvents[key], string(e))
		}
	}
	for where, doc := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		name := head.Metadata.Name
		var obj any
		switch gvk := head.APIVersion + " " + head.Kind; gvk {
		case "apps/v1 Deployment":
			r.deployments[name] = &appsv1.Deployment{}
			obj = r.deployments[name]
		case "v1 Service":
			r.services[name] = &corev1.Service{}
			obj = r.services[name]
		case "v1 ConfigMap":
			r.configMaps[name] = &corev1.ConfigMap{}
			obj = r.configMaps[name]
		case "v1 Secret":
			r.secrets[name] = &corev1.Secret{}
			obj = r.secrets[name]
		case "v1 ServiceAccount":
			r.accounts[name] = &corev1.ServiceAccount{}
			obj = r.accounts[name]
		case "networking.k8s.io/v1 Ingress":
			r.ingresses[name] = &networkingv1.Ingress{}
			obj = r.ingresses[name]
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpas[name] = &autoscalingv2.HorizontalPodAutoscaler{}
			obj = r.hpas[name]
		case "policy/v1 PodDisruptionBudget":
			r.pdbs[name] = &policyv1.PodDisruptionBudget{}
			obj = r.pdbs[name]
		case "batch/v1 Job":
			r.jobs[name] = &batchv1.Job{}
			obj = r.jobs[name]
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.monitors[name] = &monitoringv1.ServiceMonitor{}
			obj = r.monitors[name]
		case "keda.sh/v1alpha1 ScaledObject":
			r.scaled[name] = &scaledObject{}
			obj = r.scaled[name]
		default:
			t.Fatalf("%s: %s %s is a kind this test does not know: add its type", where, gvk, name)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v", where, head.Kind, name, err)
		}
		r.allLabels[head.Kind+"/"+name] = head.Metadata.Labels
	}
	return r
}

// valueSets are the values the chart is checked with: the defaults, every sample in ci/ and
// the valuesObject of the Argo CD example.
func valueSets(t *testing.T) map[string]string {
	t.Helper()
	sets := map[string]string{"defaults": ""}
	samples, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(samples) == 0 {
		t.Fatalf("no sample values in %s/ci: %v", chartDir, err)
	}
	for _, f := range samples {
		sets[filepath.Base(f)] = f
	}
	sets["argocd valuesObject"] = argocdValues(t)
	return sets
}

// TestChartLint runs Helm's own linter (`helm lint --strict`) with each set of values.
func TestChartLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for name, file := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			vals := map[string]any{}
			if file != "" {
				if vals, err = chartutil.ReadValuesFile(file); err != nil {
					t.Fatal(err)
				}
			}
			res := lint.AllWithKubeVersion(chartDir, vals, namespace, kv)
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestChart renders the chart with each set of values and checks what the deployment needs.
func TestChart(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	ws := loadWorkspace(t)
	reads := map[string]programVars{}
	for name, dir := range programs {
		reads[name] = ws.readsOf(t, dir)
	}
	for name, file := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			r := renderChart(t, ch, file)
			r.checkWorkloads(t, reads)
			r.checkScaling(t)
			r.checkNetwork(t)
			r.checkMigration(t)
			r.checkMonitoring(t)
			for obj, l := range r.allLabels {
				for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
					if l[k] == "" {
						t.Errorf("%s has no label %s", obj, k)
					}
				}
			}
		})
	}
}

func (r *rendered) deployment(t *testing.T, component string) *appsv1.Deployment {
	t.Helper()
	d := r.deployments[releaseName+"-"+component]
	if d == nil {
		t.Fatalf("no Deployment %s-%s (have %v)", releaseName, component, keys(r.deployments))
	}
	return d
}

// checkPod checks the security and resources of a pod template and its containers.
func checkPod(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext %+v does not run as a non-root uid", what, psc)
	}
	if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
		t.Errorf("%s: no RuntimeDefault seccomp profile", what)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it has no use for", what)
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s/%s: no securityContext", what, c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s/%s: root filesystem not read-only", what, c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s/%s: allows privilege escalation", what, c.Name)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
			t.Errorf("%s/%s: does not drop every capability", what, c.Name)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s/%s: privileged", what, c.Name)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
			if req.IsZero() || lim.IsZero() {
				t.Errorf("%s/%s: no %s request and limit", what, c.Name, res)
			} else if req.Cmp(lim) > 0 {
				t.Errorf("%s/%s: %s request %s above its limit %s", what, c.Name, res, req.String(), lim.String())
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s/%s: mounts volume %s, which the pod does not have", what, c.Name, m.Name)
			}
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" }) {
			t.Errorf("%s/%s: no writable /tmp on a read-only root filesystem", what, c.Name)
		}
	}
}

func (r *rendered) checkWorkloads(t *testing.T, reads map[string]programVars) {
	t.Helper()
	images := map[string]string{}
	for _, component := range []string{"api", "calculator"} {
		d := r.deployment(t, component)
		what := "Deployment " + d.Name
		pod := d.Spec.Template.Spec
		if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not select its own pods %v", what, d.Spec.Selector, d.Spec.Template.Labels)
		}
		checkPod(t, what, pod)
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", what, len(pod.Containers))
		}
		c := pod.Containers[0]
		images[component] = c.Image
		if !strings.Contains(c.Image, "factorial-"+component) {
			t.Errorf("%s: image %s is not the %s image", what, c.Image, component)
		}
		if pod.ServiceAccountName == "" || (r.accounts[pod.ServiceAccountName] == nil && r.values["serviceAccount"].(map[string]any)["create"] == true) {
			t.Errorf("%s: service account %q is not rendered", what, pod.ServiceAccountName)
		}

		// Probes: /healthz for start-up and liveness, on a port it serves; for readiness, the
		// calculator's /readyz, and the api's /healthz: a dependency that is down is down for
		// every api pod, and /readyz would take them all out of the Service, turning the fast
		// 503 with Retry-After and the cached reads into refused connections.
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		ready := map[string]string{"api": "/healthz readiness", "calculator": "/readyz readiness"}[component]
		for probe, want := range map[string]*corev1.Probe{"/healthz startup": c.StartupProbe, "/healthz liveness": c.LivenessProbe, ready: c.ReadinessProbe} {
			path, _, _ := strings.Cut(probe, " ")
			switch {
			case want == nil || want.HTTPGet == nil:
				t.Errorf("%s: no %s probe", what, probe)
			case want.HTTPGet.Path != path:
				t.Errorf("%s: %s probe on %s", what, probe, want.HTTPGet.Path)
			case ports[want.HTTPGet.Port.String()] == 0:
				t.Errorf("%s: %s probe on port %s, which the container does not name", what, probe, want.HTTPGet.Port.String())
			}
		}

		// Every variable the program reads comes from the ConfigMap, the Secret or env.
		set := map[string]bool{}
		for _, e := range c.Env {
			set[e.Name] = true
			if e.Name == "HTTP_ADDR" && !strings.HasSuffix(e.Value, ":"+strconv.Itoa(int(ports["http"]))) {
				t.Errorf("%s: HTTP_ADDR %s is not the http port %d", what, e.Value, ports["http"])
			}
		}
		for _, from := range c.EnvFrom {
			switch {
			case from.ConfigMapRef != nil:
				cm := r.configMaps[from.ConfigMapRef.Name]
				if cm == nil {
					t.Errorf("%s: env from ConfigMap %s, which is not rendered", what, from.ConfigMapRef.Name)
					continue
				}
				for k := range cm.Data {
					set[k] = true
				}
			case from.SecretRef != nil:
				name := from.SecretRef.Name
				if name == r.existingSecr {
					set["DATABASE_URL"], set["REDIS_URL"] = true, true // the keys existingSecret must hold
					continue
				}
				s := r.secrets[name]
				if s == nil {
					t.Errorf("%s: env from Secret %s, which is not rendered", what, name)
					continue
				}
				for k := range s.StringData {
					set[k] = true
				}
			}
		}
		for _, v := range reads[component].Settings {
			if !set[v] {
				t.Errorf("%s: %s reads %s, which the chart does not set (add it to values.yaml config, empty for the default)", what, component, v)
			}
		}
		for _, m := range c.VolumeMounts {
			if m.MountPath != "/tmp" && !m.ReadOnly {
				t.Errorf("%s: %s is mounted writable", what, m.MountPath)
			}
		}
	}
	if images["api"] == images["calculator"] {
		t.Errorf("api and calculator run the same image %s", images["api"])
	}
}

func (r *rendered) checkScaling(t *testing.T) {
	t.Helper()
	scaled := map[string]string{} // Deployment → what scales it
	for _, h := range r.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || r.deployments[ref.Name] == nil {
			t.Errorf("HPA %s scales %s %s, which is not rendered", h.Name, ref.Kind, ref.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("HPA %s: %v to %d replicas, want at least 2 and max ≥ min", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		scaled[ref.Name] = "HPA " + h.Name
	}
	for _, s := range r.scaled {
		target := s.Spec.ScaleTargetRef.Name
		if r.deployments[target] == nil {
			t.Errorf("ScaledObject %s scales %s, which is not rendered", s.Metadata.Name, target)
		}
		if prev, ok := scaled[target]; ok {
			t.Errorf("ScaledObject %s and %s both scale %s", s.Metadata.Name, prev, target)
		}
		scaled[target] = "ScaledObject " + s.Metadata.Name
		if len(s.Spec.Triggers) == 0 {
			t.Errorf("ScaledObject %s has no trigger", s.Metadata.Name)
		}
		for _, tr := range s.Spec.Triggers {
			md := tr.Metadata
			if tr.Type != "nats-jetstream" || md["stream"] != "FACTORIAL" || md["consumer"] == "" || md["natsServerMonitoringEndpoint"] == "" || md["lagThreshold"] == "" {
				t.Errorf("ScaledObject %s: trigger %s %v is not a JetStream lag trigger on the FACTORIAL stream", s.Metadata.Name, tr.Type, md)
			}
		}
	}
	for name, d := range r.deployments {
		if by, ok := scaled[name]; ok && d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas while %s scales it (every upgrade would reset the count)", name, by)
		}
		if _, ok := scaled[name]; !ok && (d.Spec.Replicas == nil || *d.Spec.Replicas < 2) {
			t.Errorf("Deployment %s: %v replicas and no autoscaler, want at least 2", name, d.Spec.Replicas)
		}
	}
	for _, component := range []string{"api", "calculator"} {
		d := r.deployment(t, component)
		found := false
		for _, p := range r.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				found = true
				if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
					t.Errorf("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", p.Name)
				}
			}
		}
		if !found {
			t.Errorf("no PodDisruptionBudget covers the %s pods", component)
		}
	}
}

func (r *rendered) checkNetwork(t *testing.T) {
	t.Helper()
	for _, svc := range r.services {
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		matched := 0
		for _, d := range r.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				matched++
				for _, p := range svc.Spec.Ports {
					if !slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.String() }) {
						t.Errorf("Service %s targets port %s, which Deployment %s does not name", svc.Name, p.TargetPort.String(), d.Name)
					}
				}
			}
		}
		if matched != 1 {
			t.Errorf("Service %s selects %d Deployments, want 1", svc.Name, matched)
		}
	}
	if r.services[releaseName+"-api"] == nil {
		t.Error("no Service for the API")
	}
	for _, ing := range r.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || r.services[b.Name] == nil {
					t.Errorf("Ingress %s routes %s to a Service that is not rendered", ing.Name, p.Path)
				}
			}
		}
	}
}

func (r *rendered) checkMigration(t *testing.T) {
	t.Helper()
	job := r.jobs[releaseName+"-migrate"]
	if job == nil {
		t.Fatal("no migration Job")
	}
	key := "Job/" + job.Name
	events := r.hookEvents[key]
	if !slices.Contains(events, "pre-install") || !slices.Contains(events, "pre-upgrade") {
		t.Errorf("the migration Job is hooked on %v, want pre-install and pre-upgrade", events)
	}
	pod := job.Spec.Template.Spec
	checkPod(t, key, pod)
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("%s: restartPolicy %s", key, pod.RestartPolicy)
	}
	if pod.ServiceAccountName != "" && r.hookWeights["ServiceAccount/"+pod.ServiceAccountName] == 0 && r.accounts[pod.ServiceAccountName] != nil {
		t.Errorf("%s runs as ServiceAccount %s, which is created after the hook", key, pod.ServiceAccountName)
	}
	c := pod.Containers[0]
	if !strings.Contains(c.Image, "factorial-migrate") || !slices.Equal(c.Args, []string{"up"}) {
		t.Errorf("%s runs %s %v, want the migrate image with up", key, c.Image, c.Args)
	}
	for _, e := range c.Env {
		ref := e.ValueFrom
		if ref == nil || ref.SecretKeyRef == nil {
			continue
		}
		name := ref.SecretKeyRef.Name
		if name == r.existingSecr {
			continue
		}
		w, isHook := r.hookWeights["Secret/"+name]
		if !isHook || w >= r.hookWeights[key] {
			t.Errorf("%s reads %s from Secret %s, which is not a hook created before it", key, e.Name, name)
		}
	}
	for _, v := range []string{"DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT"} {
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == v }) {
			t.Errorf("%s does not set %s", key, v)
		}
	}
}

func (r *rendered) checkMonitoring(t *testing.T) {
	t.Helper()
	for _, m := range r.monitors {
		sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		var scraped []string
		for _, svc := range r.services {
			if sel.Matches(labels.Set(svc.Labels)) {
				scraped = append(scraped, svc.Name)
				for _, ep := range m.Spec.Endpoints {
					if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
						t.Errorf("ServiceMonitor %s scrapes port %s, which Service %s does not name", m.Name, ep.Port, svc.Name)
					}
				}
			}
		}
		slices.Sort(scraped)
		if want := []string{releaseName + "-api", releaseName + "-calculator"}; !slices.Equal(scraped, want) {
			t.Errorf("ServiceMonitor %s scrapes %v, want %v", m.Name, scraped, want)
		}
	}
}

// TestChartSamplesUseEveryOption checks that the sample values turn on what the defaults
// leave off, so that each optional template is rendered and checked at least once.
func TestChartSamplesUseEveryOption(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	var ingress, keda, monitor, existing, natsFiles, digests bool
	for name, file := range valueSets(t) {
		r := renderChart(t, ch, file)
		ingress = ingress || len(r.ingresses) > 0
		keda = keda || len(r.scaled) > 0
		monitor = monitor || len(r.monitors) > 0
		existing = existing || r.existingSecr != ""
		for _, d := range r.deployments {
			c := d.Spec.Template.Spec.Containers[0]
			natsFiles = natsFiles || slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "NATS_CREDS" && e.Value != "" })
			digests = digests || strings.Contains(c.Image, "@sha256:")
		}
		if name == "defaults" && (len(r.ingresses)+len(r.scaled)+len(r.monitors) > 0) {
			t.Error("the defaults turn on an Ingress, KEDA or a ServiceMonitor: they need a controller or CRDs")
		}
	}
	for what, ok := range map[string]bool{"an Ingress": ingress, "a KEDA ScaledObject": keda, "a ServiceMonitor": monitor,
		"existingSecret": existing, "NATS files": natsFiles, "image digests": digests} {
		if !ok {
			t.Errorf("no sample values render %s", what)
		}
	}
}

// TestChartKEDAConsumers checks that the consumers KEDA watches by default are the
// calculators' durable consumers, one per lane, as events/ names them.
func TestChartKEDAConsumers(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range ch.Values["calculator"].(map[string]any)["keda"].(map[string]any)["consumers"].([]any) {
		got = append(got, fmt.Sprint(c.(map[string]any)["name"]))
	}
	var want []string
	for _, lane := range events.Lanes {
		want = append(want, lane.Durable())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("calculator.keda.consumers %v, want the lanes' durable consumers %v", got, want)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// KEDA may not scale the calculators to zero: the API is not ready until a calculator has
// created the lanes' consumers, so on a fresh install no request would come to scale them up.
func TestChartRefusesCalculatorsScaledToZero(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{"calculator": map[string]any{"keda": map[string]any{"enabled": true, "minReplicas": 0}}}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Render(ch, top); err == nil || !strings.Contains(err.Error(), "calculator.keda.minReplicas") {
		t.Fatalf("render with calculator.keda.minReplicas=0: %v, want a refusal naming it", err)
	}
}
