#!/usr/bin/env python3
"""Builds and runs test/consumer/consumer.cpp the way a user of weft would, one route per mode:

  pkgconfig  g++ with `pkg-config --cflags --libs weft`, against meson-uninstalled/weft-uninstalled.pc
  cmake      a CMake project with find_package(weft), against the build tree's weftConfig.cmake
  meson      a meson project whose subprojects/weft is a symlink to the weft source tree
  install    `meson install --destdir`, then pkg-config and CMake against the staged install

Each mode also checks that the consumer's real compile command carries every BOOST_* define
libweft itself was compiled with (read from meson's introspection of the build), since a
mismatch would be an ODR violation. Exits non-zero, with the failing command's output, if any
step fails. Usage: consumer_test.py MODE SOURCE_ROOT BUILD_ROOT SCRATCH_DIR CXX...
"""
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys


class Failure(Exception):
    pass


def run(cmd, cwd=None, env=None):
    """Runs cmd, echoing it; on failure raises with its output."""
    print('$ ' + ' '.join(shlex.quote(str(c)) for c in cmd), flush=True)
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise Failure(f'command failed with exit code {proc.returncode}:\n{proc.stdout}')
    return proc.stdout


def lib_boost_defines(build_root):
    """The -DBOOST_* arguments libweft was compiled with, from meson's introspection."""
    targets = json.loads((build_root / 'meson-info' / 'intro-targets.json').read_text())
    defines = set()
    found = False
    for t in targets:
        if t['name'] == 'weft' and t['type'] in ('shared library', 'static library'):
            found = True
            for src in t['target_sources']:
                defines |= {p for p in src['parameters'] if p.startswith('-DBOOST_')}
    if not found:
        raise Failure('libweft not found in meson-info/intro-targets.json')
    return defines


def check_defines(what, args, expected):
    missing = sorted(expected - set(args))
    if missing:
        raise Failure(f'{what} lacks the Boost configuration weft was built with: {missing}\n'
                      f'(it has: {" ".join(args)})')
    print(f'{what}: carries {" ".join(sorted(expected))}')


def compile_command_args(compile_commands, source_name):
    """The argument list compile_commands.json records for the file named source_name."""
    for entry in json.loads(compile_commands.read_text()):
        if pathlib.Path(entry['file']).name == source_name:
            return entry['arguments'] if 'arguments' in entry else shlex.split(entry['command'])
    raise Failure(f'{source_name} not found in {compile_commands}')


def run_consumer(exe, lib_dirs=()):
    env = {}
    if lib_dirs:
        env['LD_LIBRARY_PATH'] = os.pathsep.join(
            [str(d) for d in lib_dirs] + [os.environ.get('LD_LIBRARY_PATH', '')]).rstrip(os.pathsep)
    out = run([exe], env=env)
    print(out.strip())
    if 'returned 42' not in out:
        raise Failure('the consumer ran but did not report the joined task\'s value')


def pkg_config_build(ctx, pc_path, scratch, define_prefix=None):
    env = {'PKG_CONFIG_PATH': str(pc_path)}
    extra = [f'--define-variable=prefix={define_prefix}'] if define_prefix else []
    cflags = shlex.split(run(['pkg-config', *extra, '--cflags', 'weft'], env=env))
    libs = shlex.split(run(['pkg-config', *extra, '--libs', 'weft'], env=env))
    check_defines('pkg-config --cflags weft', cflags, ctx['defines'])
    if '-pthread' not in cflags or '-pthread' not in libs:
        raise Failure('the .pc file must carry -pthread in both Cflags and Libs')
    exe = scratch / 'consumer-pkgconfig'
    run([*ctx['cxx'], '-std=c++20', '-Wall', '-Wextra', '-Werror', *cflags,
         str(ctx['here'] / 'consumer.cpp'), '-o', str(exe), *libs])
    lib_dirs = [a[2:] for a in libs if a.startswith('-L')]
    run_consumer(exe, lib_dirs)
    return cflags


def cmake_build(ctx, scratch, cache_args):
    build = scratch / 'cmake-build'
    run(['cmake', '-S', ctx['here'] / 'cmake', '-B', build, '-G', 'Ninja',
         f'-DCMAKE_CXX_COMPILER={ctx["cxx"][-1]}', '-DCMAKE_EXPORT_COMPILE_COMMANDS=ON',
         *cache_args])
    run(['cmake', '--build', build])
    args = compile_command_args(build / 'compile_commands.json', 'consumer.cpp')
    check_defines('CMake weft::weft compile command', args, ctx['defines'])
    # The imported target must bring -pthread itself (INTERFACE_COMPILE/LINK_OPTIONS).
    if '-pthread' not in args:
        raise Failure('weft::weft did not add -pthread to the compile command')
    run_consumer(build / 'consumer')
    return args


def mode_pkgconfig(ctx, scratch):
    pc = ctx['build'] / 'meson-uninstalled'
    if not (pc / 'weft-uninstalled.pc').exists():
        raise Failure(f'{pc}/weft-uninstalled.pc is missing')
    pkg_config_build(ctx, pc, scratch)


def mode_cmake(ctx, scratch):
    args = cmake_build(ctx, scratch, [f'-Dweft_DIR={ctx["build"] / "packaging"}'])
    if not any(str(ctx['source'] / 'include') in a for a in args):
        raise Failure('the build-tree CMake package did not use the source include directory')


def mode_meson(ctx, scratch):
    proj = scratch / 'project'
    (proj / 'subprojects').mkdir(parents=True)
    shutil.copy(ctx['here'] / 'meson' / 'meson.build', proj / 'meson.build')
    shutil.copy(ctx['here'] / 'consumer.cpp', proj / 'consumer.cpp')
    (proj / 'subprojects' / 'weft').symlink_to(ctx['source'], target_is_directory=True)
    build = scratch / 'build'
    env = {'CXX': ' '.join(ctx['cxx'])}
    # --force-fallback-for: use the subproject even if a weft is installed on this machine.
    # --buildtype=plain (no optimisation): this builds all of libweft again, only to link it.
    run(['meson', 'setup', '--force-fallback-for=weft', '--buildtype=plain', build, proj],
        env=env)
    run(['ninja', '-C', build, 'consumer'])
    args = compile_command_args(build / 'compile_commands.json', 'consumer.cpp')
    check_defines('meson subproject dependency(\'weft\') compile command', args, ctx['defines'])
    run_consumer(build / 'consumer')


def mode_install(ctx, scratch):
    stage = scratch / 'stage'
    run(['meson', 'install', '-C', ctx['build'], '--no-rebuild', '--quiet', '--destdir', stage])
    opts = {o['name']: o['value'] for o in
            json.loads((ctx['build'] / 'meson-info' / 'intro-buildoptions.json').read_text())}
    prefix = stage / pathlib.Path(opts['prefix']).relative_to('/')
    libdir = prefix / opts['libdir']
    includedir = prefix / opts['includedir']

    # Everything a consumer needs is installed: every public header, the library, both packages.
    src_headers = {p.relative_to(ctx['source'] / 'include')
                   for p in (ctx['source'] / 'include' / 'weft').rglob('*.hpp')}
    inst_headers = {p.relative_to(includedir) for p in (includedir / 'weft').rglob('*.hpp')}
    if src_headers != inst_headers:
        raise Failure(f'installed headers differ from include/weft: missing '
                      f'{sorted(map(str, src_headers - inst_headers))}, extra '
                      f'{sorted(map(str, inst_headers - src_headers))}')
    for f in ['pkgconfig/weft.pc', 'cmake/weft/weftConfig.cmake',
              'cmake/weft/weftConfigVersion.cmake']:
        if not (libdir / f).exists():
            raise Failure(f'{libdir / f} was not installed')
    if not list(libdir.glob('libweft.*')):
        raise Failure(f'libweft was not installed into {libdir}')
    print(f'installed: {len(inst_headers)} headers, libweft, weft.pc, weftConfig*.cmake')

    # The staged install must be used, not the source or build tree.
    cflags = pkg_config_build(ctx, libdir / 'pkgconfig', scratch, define_prefix=prefix)
    if any(str(ctx['source'] / 'include') in a for a in cflags):
        raise Failure('the installed weft.pc points into the source tree')
    args = cmake_build(ctx, scratch, [f'-DCMAKE_PREFIX_PATH={prefix}'])
    if not any(str(includedir) in a for a in args):
        raise Failure(f'the installed CMake package did not use {includedir}: {args}')


MODES = {'pkgconfig': mode_pkgconfig, 'cmake': mode_cmake, 'meson': mode_meson,
         'install': mode_install}


def main():
    if len(sys.argv) < 6 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    mode = sys.argv[1]
    ctx = {
        'here': pathlib.Path(__file__).resolve().parent,
        'source': pathlib.Path(sys.argv[2]).resolve(),
        'build': pathlib.Path(sys.argv[3]).resolve(),
        'cxx': sys.argv[5:],
    }
    scratch = pathlib.Path(sys.argv[4]).resolve()
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        ctx['defines'] = lib_boost_defines(ctx['build'])
        MODES[mode](ctx, scratch)
    except Failure as e:
        print(f'FAILED ({mode} consumer): {e}', flush=True)
        sys.exit(1)
    print(f'OK: the {mode} consumer built and ran')


if __name__ == '__main__':
    main()
