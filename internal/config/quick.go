package config

// Quick returns the config of quick mode: one site on listen that proxies
// everything to the given upstream URLs, with every default on and the admin
// API off.
func Quick(listen string, to []string) (*Config, error) {
	return Finish(&Config{
		File:  "<proxy command line>",
		Admin: Admin{Listen: "off"},
		Sites: []Site{{
			Listen: []string{listen},
			Routes: []Route{{Path: "/", Proxy: &Proxy{To: Targets(to)}}},
		}},
	})
}
