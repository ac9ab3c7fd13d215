// Package deploy holds only tests: the static checks of what deploys the service (the compose
// stack, the Dockerfile, the Helm chart, and the README's table of settings an operator
// deploys by), run by `make test` on machines without a Docker engine or a Kubernetes cluster.
package deploy
