// Package deploy holds no code: its tests check Vigil's deployment
// artifacts the way users run them — the release build (build.sh,
// reproducible), the container image (imagebuild; its SBOM and trust policy),
// the agent in a Docker container beside other containers, and the Debian
// package with its systemd unit (debian/). The Helm chart (helm/vigil) is
// rendered and checked by the separate module in charttest, which .ci/run
// runs. See docs/deploy.md.
package deploy
