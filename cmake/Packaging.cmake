# `make package`: a Debian package of the service (docs/operations.md, "Debian package").
#
# The package holds the default install (bin/mangaassist, share/mangaassist/..., under /usr)
# plus the files only a system installation has, in the component "debian", which a plain
# `make install PREFIX=...` leaves out (EXCLUDE_FROM_ALL): the systemd unit, the service's
# config in /etc/mangaassist, its environment file and its logrotate rule. DEB packs
# absolute destinations under its staging root (DESTDIR), never onto this machine's /etc.
include_guard(GLOBAL)
include(GNUInstallDirs)

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_get_variable(MA_SYSTEMD_UNIT_DIR_DEFAULT systemd systemdsystemunitdir)
endif()
if(NOT MA_SYSTEMD_UNIT_DIR_DEFAULT)
  set(MA_SYSTEMD_UNIT_DIR_DEFAULT /lib/systemd/system)  # Debian 12's
endif()
set(MA_SYSTEMD_UNIT_DIR "${MA_SYSTEMD_UNIT_DIR_DEFAULT}" CACHE PATH
    "Where the Debian package puts mangaassist.service")

set(_pkg "${CMAKE_SOURCE_DIR}/packaging")
install(FILES ${_pkg}/mangaassist.service DESTINATION ${MA_SYSTEMD_UNIT_DIR}
        COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/mangaassist.toml DESTINATION /etc/mangaassist
        COMPONENT debian EXCLUDE_FROM_ALL)
# Holds secrets once filled in: root only (systemd reads it before dropping privileges).
install(FILES ${_pkg}/mangaassist.default DESTINATION /etc/default RENAME mangaassist
        PERMISSIONS OWNER_READ OWNER_WRITE COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/mangaassist.logrotate DESTINATION /etc/logrotate.d RENAME mangaassist
        COMPONENT debian EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mangaassist)
set(CPACK_PACKAGE_VENDOR "MangaAssist")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "resilient chat gateway of a manga web store")
set(CPACK_PACKAGE_DESCRIPTION
    "MangaAssist answers the store's customers through foundation models (Claude Sonnet, then
Haiku; simulated by default) and keeps answering usefully when they throttle or fail:
jittered retries under a fleet budget, circuit breakers, a response cache, answers from live
catalog data, honest degradation messages. Runs as the systemd service mangaassist.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER
    "MangaAssist maintainers <maintainers@users.noreply.r-seed-c163c24f.example>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # mangaassist_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
# The shared libraries the binary links (libsqlite3, libssl, libhiredis, ...) from
# dpkg-shlibdeps; adduser for the postinst's system user. Added to the shlibdeps list.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_pkg}/conffiles;${_pkg}/postinst;${_pkg}/prerm;${_pkg}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# The binary stripped (2 MB, not 150 MB with RelWithDebInfo); its debug info in
# mangaassist-dbgsym_*.ddeb, by build id (/usr/lib/debug/.build-id), for gdb and backtraces.
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)

# One package: the default component (the src/ install rules) and "debian".
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified debian)
# Packages go to <build>/packages (cpack -B DIR elsewhere).
set(CPACK_PACKAGE_DIRECTORY "${CMAKE_BINARY_DIR}/packages")
include(CPack)
