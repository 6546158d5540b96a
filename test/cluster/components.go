package main

import (
	"os"
	_ "time/tzdata" // CronJob time zones, as upstream

	"github.com/spf13/pflag"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanagerapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"

	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	kwoksignals "sigs.k8s.io/kwok/pkg/utils/signals"
)

// Each run* function is the body of the upstream main package of that component.

func runAPIServer() int {
	return cli.Run(apiserverapp.NewAPIServerCommand())
}

func runControllerManager() int {
	return cli.Run(controllermanagerapp.NewControllerManagerCommand())
}

func runScheduler() int {
	return cli.Run(schedulerapp.NewSchedulerCommand())
}

// dropGlobalVersionFlag removes --version from pflag.CommandLine. The control-plane packages linked into
// this binary (component-base/version/verflag) declare it there in init; cobra merges pflag.CommandLine
// into a root command, so kwok would fail (cobra reads its own bool --version and finds verflag's
// non-bool one). The control-plane commands add verflag's flag to their own flag sets and keep it.
func dropGlobalVersionFlag() {
	fs := pflag.NewFlagSet(os.Args[0], pflag.ExitOnError)
	pflag.CommandLine.VisitAll(func(f *pflag.Flag) {
		if f.Name != "version" {
			fs.AddFlag(f)
		}
	})
	pflag.CommandLine = fs
}

// sigs.k8s.io/kwok/cmd/kwok/main.go
func runKwok() int {
	dropGlobalVersionFlag()

	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}

	ctx := kwoksignals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, flagset)

	ctx, err := kwokconfig.InitFlags(ctx, flagset)
	if err != nil {
		_, _ = os.Stderr.Write([]byte(flagset.FlagUsages()))
		logger.Error("Init config flags", "err", err)
		return 1
	}

	command := kwokcmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flagset)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("Execute exit", "err", err)
		return 1
	}
	return 0
}
